// Reactions on the viewer page: the buttons send `reaction.send`, and each `reactions` frame
// (the room's counts for a short window) floats up as bursts of the buttons' own icons, capped
// so a crowd never floods the screen.

import { h, $$ } from '../dom.js';
import { Command } from '../protocol.js';

const EMOJI = { heart: '❤️', fire: '🔥', clap: '👏', laugh: '😂', wow: '😮', cart: '🛍️' };
const MAX_BURSTS = 30; // elements on screen at once, whatever the crowd sends
const BURST_MS = 2400;

/** Binds the `.react-btn` buttons to `room`; returns `burst(counts)` for `reactions` frames. */
export function reactions({ room, bursts }) {
  // The buttons' own SVG icons float up (no emoji font needed).
  const icons = Object.fromEntries($$('.react-btn').map((b) => [b.dataset.kind, b.querySelector('svg')]).filter(([, i]) => i));
  const reduceMotion = matchMedia('(prefers-reduced-motion: reduce)');

  for (const b of $$('.react-btn')) {
    b.addEventListener('click', () => {
      room.send({ type: Command.REACTION_SEND, kind: b.dataset.kind });
      b.classList.remove('tapped');
      void b.offsetWidth; // restart the press animation
      b.classList.add('tapped');
    });
  }

  function float(kind) {
    if (bursts.childElementCount >= MAX_BURSTS) return;
    const icon = icons[kind] ? icons[kind].cloneNode(true) : EMOJI[kind];
    const b = h('span', { class: `burst burst-${kind}`, dataset: { kind } }, icon);
    b.style.setProperty('--x', `${Math.round(Math.random() * 48)}px`);
    b.style.setProperty('--drift', `${Math.round((Math.random() - 0.5) * 80)}px`);
    bursts.appendChild(b);
    setTimeout(() => b.remove(), reduceMotion.matches ? 900 : BURST_MS);
  }

  /** Floating bursts for one `reactions` frame: one per counted tap, capped, spread over a window. */
  return function burst(counts) {
    const kinds = Object.entries(counts).filter(([k, n]) => EMOJI[k] && n > 0);
    const total = kinds.reduce((a, [, n]) => a + n, 0);
    if (!total) return;
    const space = Math.max(0, MAX_BURSTS - bursts.childElementCount);
    const wanted = Math.min(total, space, 12);
    const bag = [];
    for (const [k, n] of kinds) {
      const share = Math.max(1, Math.round((n / total) * wanted));
      for (let i = 0; i < share; i += 1) bag.push(k);
    }
    bag.length = Math.min(bag.length, space);
    bag.forEach((kind, i) => setTimeout(() => float(kind), i * 60));
  };
}
