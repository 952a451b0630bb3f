// The viewer's cart and checkout: add from a pinned card or the lineup, change quantities in
// the drawer, check out once per attempt (an idempotency key a retry reuses), and the
// "X just bought Y" news. Refusals are shown in a shopper's words (errors.js). With
// --payments stripe the drawer also takes the buyer's details and card (feature/cardpay.js).

import { api, ApiError, formatMoney, newKey, settledFailure } from '../api.js';
import { h, $, $$, fill, busy, showError, userText } from '../dom.js';
import { shopWords } from './errors.js';
import { modalDrawer } from './drawer.js';
import { cardPay } from './cardpay.js';

/** The lines of a cart as a comparable key (a new cart is a new purchase attempt). */
const linesKey = (cart) => JSON.stringify(cart.items.map((i) => [i.product_id, i.quantity]));

/**
 * The cart of page state `S` (`token`, `cart`, `checkoutKey`) in the elements `el`;
 * `identity` asks a guest for a name and forgets an expired one. Returns `{add, load, render}`.
 */
export function shopCart({ showId, S, el, root, room, identity }) {
  /** An ApiError with a message a shopper understands. */
  function shopError(e) {
    if (!(e instanceof ApiError)) return e;
    if (e.status === 401) {
      identity.forget();
      room.reauthenticate();
      return new ApiError(401, e.code, 'Your session expired. Pick your name again to continue.');
    }
    const words = shopWords(e.code, e.problem || {});
    return words !== undefined ? new ApiError(e.status, e.code, words, e.problem) : e;
  }

  async function call(method, path, body, headers) {
    try {
      return await api(method, `/api/shows/${showId}${path}`, { token: S.token, body, headers });
    } catch (e) {
      throw shopError(e);
    }
  }

  function set(cart) {
    const before = S.cart ? linesKey(S.cart) : '';
    S.cart = cart;
    if (before !== linesKey(cart)) S.checkoutKey = null;
    const count = cart.items.reduce((a, i) => a + i.quantity, 0);
    fill(el.cartCount, String(count));
    el.cartButton.classList.toggle('has-items', count > 0);
    render();
  }

  const qtyOf = (productId) => {
    const line = S.cart && S.cart.items.find((i) => i.product_id === productId);
    return line ? line.quantity : 0;
  };

  async function load() {
    if (!S.token) return;
    set(await call('GET', '/cart'));
  }

  function added(cart, productId) {
    const line = cart.items.find((i) => i.product_id === productId);
    const t = h('div', { class: 'toast toast-success' }, 'Added ', userText(line ? line.title : 'it'), ' to your cart');
    $('#toasts').appendChild(t);
    setTimeout(() => t.remove(), 3000);
    el.cartButton.classList.remove('bump');
    void el.cartButton.offsetWidth;
    el.cartButton.classList.add('bump');
  }

  function add(productId, button) {
    const go = async () => {
      if (!S.cart) await load();
      const cart = await call('PUT', `/cart/items/${productId}`, { quantity: qtyOf(productId) + 1 });
      set(cart);
      added(cart, productId);
    };
    const again = async () => {
      await busy(button, go);
      // Back on the button that asked (its pin card may have been drawn anew meanwhile).
      const target = document.contains(button) ? button
        : el.pins.querySelector(`.pin-card[data-product-id="${CSS.escape(productId)}"] .add-to-cart`);
      if (target) target.focus();
    };
    if (identity.need('Pick a name to shop', again)) return;
    busy(button, go);
  }

  /** The focus after the lines were drawn anew: the same control of the same line, else on. */
  function refocus(productId, kind) {
    const again = productId && kind && el.cartItems.querySelector(
      `.cart-item[data-product-id="${CSS.escape(productId)}"] .${kind}`);
    (again || (el.checkout.disabled ? $('#cart-close') : el.checkout)).focus();
  }

  function line(i) {
    const qty = (cls, label, text, quantity) => h('button', {
      type: 'button', class: `small ${cls}`, 'aria-label': label, onclick: (e) => changeQty(i, quantity, e.currentTarget),
    }, text);
    return h('li', { class: 'cart-item', dataset: { productId: i.product_id } },
      i.image_url ? h('img', { src: i.image_url, alt: '', width: 48, height: 48 }) : h('span', { class: 'cart-img' }),
      h('div', { class: 'cart-line' },
        h('bdi', { class: 'cart-title', dir: 'auto' }, i.title),
        h('span', { class: 'cart-unit muted' }, formatMoney(i.unit_price), i.deal ? h('span', { class: 'badge deal-badge' }, 'Deal') : null),
        h('div', { class: 'qty', role: 'group', 'aria-label': `Quantity of ${i.title}` },
          qty('qty-minus', `One fewer ${i.title}`, '−', i.quantity - 1),
          h('output', { class: 'qty-value', 'aria-live': 'polite' }, String(i.quantity)),
          qty('qty-plus', `One more ${i.title}`, '+', i.quantity + 1),
          qty('ghost remove', `Remove ${i.title}`, 'Remove', 0))),
      h('span', { class: 'line-total' }, formatMoney(i.line_total)));
  }

  function render() {
    const cart = S.cart;
    const items = cart ? cart.items : [];
    // Drawing the lines anew (the cart was read again, a purchase elsewhere) must not drop the
    // keyboard's place: the focused control of a line is focused again in the new line.
    const focused = el.cartItems.contains(document.activeElement) ? document.activeElement : null;
    const focusedLine = focused && focused.closest('.cart-item');
    const focusedKind = focused && ['qty-minus', 'qty-plus', 'remove'].find((c) => focused.classList.contains(c));
    el.cartItems.replaceChildren(...items.map(line));
    el.cartEmpty.hidden = items.length > 0;
    fill(el.cartTotal, cart ? formatMoney(cart.total) : '—');
    el.checkout.disabled = items.length === 0;
    if (cardpay) cardpay.render();
    if (focused && !document.contains(focused)) refocus(focusedLine && focusedLine.dataset.productId, focusedKind);
  }

  function changeQty(item, quantity, button) {
    busy(button, async () => {
      el.cartError.hidden = true;
      const cart = quantity <= 0
        ? await call('DELETE', `/cart/items/${item.product_id}`)
        : await call('PUT', `/cart/items/${item.product_id}`, { quantity });
      set(cart);
      // Keep the keyboard in the drawer after its list re-rendered: on the same button of the
      // same line, else on the checkout (or the close button of an empty cart).
      refocus(item.product_id, ['qty-minus', 'qty-plus'].find((c) => button.classList.contains(c)));
    }, el.cartError);
  }

  function confirm(order) {
    const n = order.items ? order.items.reduce((a, i) => a + (i.quantity || 0), 0) : 0;
    fill(el.confirmation,
      h('strong', {}, 'Thank you! Your order is placed.'), h('br'),
      `Order ${String(order.id).slice(-8)} · ${n} item${n === 1 ? '' : 's'} · ${formatMoney(order.total)}`,
      order.status && order.status !== 'paid' ? ` (${order.status.replace(/_/g, ' ')})` : '');
    el.confirmation.dataset.orderId = order.id;
    el.confirmation.hidden = false;
    el.confirmation.focus();
  }

  /** Places the order: `{}` with the built-in provider, `{email, shipping}` with cards. */
  async function place(body) {
    // One key per purchase attempt: a retry after a network failure reuses it, so the order
    // is placed at most once.
    if (!S.checkoutKey) S.checkoutKey = newKey();
    try {
      const placed = await call('POST', '/checkout', body, { 'Idempotency-Key': S.checkoutKey });
      S.checkoutKey = null;
      return placed;
    } catch (e) {
      if (settledFailure(e)) S.checkoutKey = null; // a new attempt next time
      throw cardpay ? cardpay.words(e) : e;
    }
  }

  /** Buys the cart; with cards, pays with saved card `cardId` or the new card (null). */
  async function checkout(cardId = null) {
    // One purchase at a time: the drawer has several pay buttons (the saved cards', the new card's).
    if (S.buying) return undefined;
    S.buying = true;
    try {
      return await buy(cardId);
    } finally {
      S.buying = false;
    }
  }

  async function buy(cardId) {
    el.cartError.hidden = true;
    el.confirmation.hidden = true;
    if (cardpay && cardpay.pending()) return cardpay.retry(cardId);
    const body = cardpay ? cardpay.details() : {};
    const placed = await place(body);
    const order = placed.order;
    const emptied = () => load().catch(() => set({ items: [], total: order.total && { ...order.total, amount: 0 } }));
    if (cardpay && placed.payment) {
      await emptied();
      return cardpay.payPlaced(placed, cardId, body);
    }
    confirm(order);
    return emptied();
  }

  // With --payments stripe the drawer takes the card too (feature/cardpay.js).
  const cardpay = root.dataset.payments === 'stripe'
    ? cardPay({
      root, S, el, call,
      pay: (cardId, button) => busy(button, () => checkout(cardId), el.cartError),
      reload: () => load().catch(() => {}),
    })
    : null;

  el.checkout.addEventListener('click', () => busy(el.checkout, () => checkout(), el.cartError));
  modalDrawer({
    drawer: el.drawer,
    opener: el.cartButton,
    closer: $('#cart-close'),
    root,
    onOpen() {
      el.confirmation.hidden = true;
      $('#cart-heading').focus();
      if (cardpay) cardpay.opened();
      if (S.token) load().catch((e) => showError(e, el.cartError));
      else render();
    },
  });
  // The lineup list's buttons (server-rendered) add to the cart too.
  for (const b of $$('#lineup .add-to-cart')) {
    b.addEventListener('click', () => add(b.dataset.productId, b));
  }

  /** The room's `order.updated` for this buyer. */
  const orderUpdated = (order) => { if (cardpay) cardpay.updated(order); };

  return { add, load, render, orderUpdated };
}

/** "Dana just bought 2 × Speckled mug": a toast; at most four such toasts at once. */
export function purchaseToast(m) {
  const area = $('#toasts');
  const t = h('div', { class: 'toast toast-purchase' },
    userText(m.buyer || 'Someone', 'buyer'), ' just bought ',
    m.quantity > 1 ? `${m.quantity} × ` : '',
    userText(m.title || 'something', 'item'));
  area.appendChild(t);
  while (area.querySelectorAll('.toast-purchase').length > 4) area.querySelector('.toast-purchase').remove();
  setTimeout(() => t.classList.add('toast-out'), 7000);
  setTimeout(() => t.remove(), 7400);
}
