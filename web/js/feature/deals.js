// Pinned products and their flash deals as people see them: the viewer's deal card (price, the
// struck-through regular price, units left, the countdown, "Add to cart"), the studio's one-line
// summary of a pin, and the countdowns that tick on both. A pin is the server's pin view
// (`pin.updated`, docs/protocol.md): `product_id`, `title`, `price`, `regular_price`,
// `stock_left`, `image_url`, and `deal` (`price`, `quantity`, `remaining`, `ends_at`, `open`).

import { h, $$, fill, clock } from '../dom.js';
import { formatMoney } from '../api.js';

/** How often countdowns tick. */
export const TICK_MS = 1000;

/** Runs `fn` once a second, for countdowns. */
export function everyTick(fn) {
  return setInterval(fn, TICK_MS);
}

/** Whether the pin's deal is open. */
export function dealOpen(pin) {
  return !!(pin && pin.deal && pin.deal.open);
}

/**
 * Seconds from `now` (Unix ms; the local clock by default, the picture's time on the server's
 * clock on the viewer page) until `endsAt` (an RFC 3339 time), never below zero.
 */
export function secondsLeft(endsAt, now = Date.now()) {
  return Math.max(0, (new Date(endsAt).getTime() - now) / 1000);
}

/** What a buyer can still get: the deal's remaining units while it is open, else the stock. */
export function unitsLeft(pin) {
  if (dealOpen(pin)) return Math.min(pin.deal.remaining, pin.stock_left);
  return pin.stock_left;
}

/** The prices of a card: the deal price and the struck-through regular one, or the price. */
function prices(p) {
  if (!dealOpen(p)) return [h('span', { class: 'pin-price' }, formatMoney(p.price))];
  const regular = p.regular_price || p.price;
  return [
    h('span', { class: 'pin-deal-price' }, h('span', { class: 'sr-only' }, 'Deal price '), formatMoney(p.deal.price)),
    ' ',
    h('s', { class: 'pin-price' }, h('span', { class: 'sr-only' }, 'regular price '), formatMoney(regular)),
  ];
}

/** The viewer's card of one pin; `onAdd(productId, button)` adds it to the cart. */
export function dealCard(p, onAdd) {
  const left = unitsLeft(p);
  const soldOut = p.stock_left <= 0;
  const open = dealOpen(p);
  const countdown = p.deal
    ? h('span', { class: 'pin-countdown', dataset: { endsAt: p.deal.ends_at, open: String(open) } })
    : null;
  const button = h('button', {
    type: 'button',
    class: 'add-to-cart primary',
    disabled: soldOut,
    'aria-label': soldOut ? `${p.title}: sold out` : `Add ${p.title} to cart`,
    onclick: (e) => onAdd(p.product_id, e.currentTarget),
  }, soldOut ? 'Sold out' : 'Add to cart');
  return h('article', {
    class: `pin-card${soldOut ? ' sold-out' : ''}${open ? ' has-deal' : ''}`,
    dataset: { productId: p.product_id },
    'aria-label': p.title,
  },
  p.image_url ? h('img', { class: 'pin-img', src: p.image_url, alt: '', width: 64, height: 64, loading: 'lazy' }) : h('span', { class: 'pin-img' }),
  h('div', { class: 'pin-body' },
    h('bdi', { class: 'pin-title', dir: 'auto' }, p.title),
    h('div', { class: 'pin-prices' }, ...prices(p))),
  h('div', { class: 'pin-meta' },
    countdown,
    h('span', { class: `pin-left${soldOut ? ' is-sold-out' : ''}`, dataset: { left: String(soldOut ? 0 : left) } }, soldOut ? 'Sold out' : `${left} left`)),
  button);
}

/** Brings every card countdown (`.pin-countdown`) inside `container` up to `now` (Unix ms). */
export function tickCountdowns(container, now = Date.now()) {
  for (const c of $$('.pin-countdown', container)) {
    const secs = Math.round(secondsLeft(c.dataset.endsAt, now));
    c.dataset.seconds = String(secs);
    const open = c.dataset.open === 'true' && secs > 0;
    const text = open ? `Ends in ${clock(secs)}` : 'Deal ended';
    if (c.textContent !== text) fill(c, text);
    c.classList.toggle('ending', open && secs <= 30);
  }
}

/** The studio's line about a pin: "Pinned · deal $9.99 · 3 of 10 left · ends in 4:12". */
export function dealSummary(pin) {
  if (!pin) return '';
  const parts = ['Pinned'];
  const d = pin.deal;
  if (d) {
    if (d.open) {
      parts.push(`deal ${formatMoney(d.price)}`, `${d.remaining} of ${d.quantity} left`, `ends in ${clock(secondsLeft(d.ends_at))}`);
    } else {
      parts.push('deal over');
    }
  }
  return parts.join(' · ');
}
