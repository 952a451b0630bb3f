// The viewer's pinned products: the strip of deal cards (deals.js) kept in step with each
// `pin.updated`. Cards are replaced in place, so the keyboard stays on a card's button while
// its stock changes, and the countdowns are brought up to date at once.

import { $$ } from '../dom.js';
import { dealCard, tickCountdowns } from './deals.js';

/**
 * The strip in `container`; `onAdd(productId, button)` adds a product to the cart; `now()` is
 * the time countdowns count to (the viewer's picture on the server's clock).
 * Returns `set(pins)`, which also keeps `S.pins` and the page's `has-pins` class.
 */
export function pinStrip({ root, S, container, onAdd, now = () => Date.now() }) {
  return function setPins(pins) {
    S.pins = pins;
    const keep = new Set(pins.map((p) => p.product_id));
    for (const card of $$('.pin-card', container)) {
      if (!keep.has(card.dataset.productId)) card.remove();
    }
    pins.forEach((p, i) => {
      const fresh = dealCard(p, onAdd);
      const old = container.querySelector(`.pin-card[data-product-id="${CSS.escape(p.product_id)}"]`);
      if (old) {
        // Keep focus on the card's button across updates (stock changes often).
        const focused = old.contains(document.activeElement);
        old.replaceWith(fresh);
        if (focused) fresh.querySelector('.add-to-cart').focus();
      } else {
        container.insertBefore(fresh, container.children[i] || null);
      }
    });
    root.classList.toggle('has-pins', pins.length > 0);
    tickCountdowns(container, now());
  };
}
