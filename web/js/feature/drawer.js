// A drawer as a modal dialog (the viewer's cart): focus moves in, Tab stays in, Esc and the
// backdrop (`[data-close]`) close it, the page behind is inert, and focus returns to what
// opened it.

import { $$ } from '../dom.js';

/**
 * The drawer `drawer`, opened by `opener` (its `aria-expanded` follows) over `root`; `closer`
 * closes it, and `onOpen()` runs once it is open (and moves the focus in).
 * Returns `{open, close}`.
 */
export function modalDrawer({ drawer, opener, closer, root, onOpen }) {
  let returnFocus = null;

  function open() {
    returnFocus = document.activeElement;
    drawer.hidden = false;
    opener.setAttribute('aria-expanded', 'true');
    root.inert = true;
    onOpen();
  }

  function close() {
    if (drawer.hidden) return;
    drawer.hidden = true;
    opener.setAttribute('aria-expanded', 'false');
    root.inert = false;
    (returnFocus && document.contains(returnFocus) ? returnFocus : opener).focus();
  }

  /** Tab and Shift+Tab go round the drawer's controls. */
  function trap(e) {
    const focusable = $$('button:not([disabled]), [href], input, [tabindex]:not([tabindex="-1"])', drawer)
      .filter((x) => x.offsetParent !== null);
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (e.shiftKey && (document.activeElement === first || !drawer.contains(document.activeElement))) {
      e.preventDefault(); last.focus();
    } else if (!e.shiftKey && (document.activeElement === last || !drawer.contains(document.activeElement))) {
      e.preventDefault(); first.focus();
    }
  }

  opener.addEventListener('click', open);
  closer.addEventListener('click', close);
  drawer.addEventListener('click', (e) => { if (e.target.hasAttribute('data-close')) close(); });
  document.addEventListener('keydown', (e) => {
    if (drawer.hidden) return;
    if (e.key === 'Escape') { e.preventDefault(); close(); return; }
    if (e.key === 'Tab') trap(e);
  });
  return { open, close };
}
