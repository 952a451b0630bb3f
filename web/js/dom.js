// Small DOM helpers. Everything a user wrote goes into the page as text nodes (or attribute
// values set through the DOM): never as HTML. There is no innerHTML anywhere in web/js.

/**
 * h('li', {class: 'msg', dir: 'auto', onclick: fn}, 'text', child) → an element.
 * Strings become text nodes; null/false children are skipped; arrays are flattened.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

/** A text span for something a user wrote: its own direction (RTL names and chat render right). */
export function userText(text, cls) {
  return h('bdi', { class: cls, dir: 'auto' }, text);
}

/**
 * Shows a short message in the page's toast area (`#toasts`, created on first use, a polite
 * live region so screen readers announce it). kind: info | success | error.
 */
export function toast(message, kind = 'info', ms = 4000) {
  let area = document.getElementById('toasts');
  if (!area) {
    area = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(area);
  }
  const t = h('div', { class: `toast toast-${kind}` }, message);
  area.appendChild(t);
  setTimeout(() => t.classList.add('toast-out'), ms);
  setTimeout(() => t.remove(), ms + 400);
  return t;
}

/** Shows an error (an ApiError or anything) where the person is looking, and logs it. */
export function showError(err, where) {
  const message = (err && err.message) || String(err);
  console.warn(err);
  if (where) {
    fill(where, message);
    where.hidden = false;
    where.setAttribute('role', 'alert');
  } else {
    toast(message, 'error', 6000);
  }
}

/**
 * Runs `fn` for a button press: the button is disabled while it runs and re-enabled after,
 * and a failure is shown (never a dead button). A keyboard user keeps their place: disabling
 * a focused button drops the focus to the page's start, so it comes back to the button after
 * (unless `fn` moved it somewhere on purpose).
 */
export async function busy(button, fn, errorWhere) {
  if (button.disabled) return undefined;
  const hadFocus = document.activeElement === button;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } catch (e) {
    showError(e, errorWhere);
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    const lost = !document.activeElement || document.activeElement === document.body;
    if (hadFocus && lost && button.isConnected && !button.hidden) button.focus();
  }
}

/** "3:05" / "1:02:03" from seconds. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/** "in 3 days", "in 5 minutes", from a date in the future. */
export function startsIn(date) {
  const diff = (new Date(date).getTime() - Date.now()) / 1000;
  if (diff <= 0) return 'any moment now';
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (diff < 3600) return rtf.format(Math.ceil(diff / 60), 'minute');
  if (diff < 86400) return rtf.format(Math.round(diff / 3600), 'hour');
  return rtf.format(Math.round(diff / 86400), 'day');
}

/** A local time for an RFC 3339 timestamp. */
export function timeOf(at) {
  return new Date(at).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}
