// Paying by card inside the cart drawer (`--payments stripe`): the buyer's email and shipping
// address (checked, remembered in this browser), a saved card paid in one tap or a new card typed
// into Stripe.js's card element, and the payment's progress until the order is paid. The flow
// works with real Stripe and its local stand-in alike: a new card is saved with a SetupIntent
// (`confirmCardSetup`), the server confirms the order's PaymentIntent with it, and 3-D Secure
// goes through `confirmCardPayment`. The order is `paid` only when the server says so (the
// room's `order.updated`, or reading the order). The cart itself stays in cart.js.

import { ApiError, formatMoney, store } from '../api.js';
import { h, $, busy, fill, timeOf } from '../dom.js';
import { cardWords, unpaidOrderWords } from './errors.js';
import { FIELDS, cardName, checkDetails, fieldOfProblem, recallDetails, rememberDetails } from './address.js';

/** How often the page reads a paid-for order while its `order.updated` has not come. */
const POLL_MS = 1500;
/** How long the page waits for the payment to settle before saying it is still on its way. */
const SETTLE_MS = 90000;

/** The form's input for a field. */
const input = (field) => $(`#pay-form [name="${field}"]`);

/**
 * Card payments of page state `S` in the drawer's elements `el`: `call(method, path, body)` is
 * the cart's API call for this show, `pay(card, button)` starts paying the cart with a saved
 * card's id (null for the new card) as the Checkout button does, and `reload()` reads the cart
 * again. Returns the hooks cart.js calls (see the object at the end).
 */
export function cardPay({ root, S, el, call, pay, reload }) {
  const form = $('#pay-form');
  const status = $('#pay-status');
  const savedList = $('#saved-cards');
  const newCardLabel = $('#card-label');
  const cardBox = $('#card-element');
  const detailsBox = $('.pay-details', form);
  let stripe = null;
  let card = null;
  let cards = [];
  /** The order waiting for its payment (after a checkout, until paid or lapsed). */
  let pending = null;
  /** Settles the wait for `pending` with the order as the server reported it. */
  let settle = null;
  let prefilled = false;

  function say(text) {
    fill(status, text || '');
    status.hidden = !text;
  }

  /** Stripe.js and its card element, made the first time the drawer opens. */
  function mountCard() {
    if (card) return;
    if (typeof window.Stripe !== 'function') {
      say('Card payments could not load. Reload the page to try again.');
      return;
    }
    stripe = window.Stripe(root.dataset.stripeKey);
    card = stripe.elements().create('card', { hidePostalCode: true });
    card.mount('#card-element');
  }

  function prefill() {
    if (prefilled) return;
    prefilled = true;
    const kept = recallDetails(store);
    for (const f of FIELDS) {
      if (kept[f] && !input(f).value) input(f).value = kept[f];
    }
  }

  function renderCards() {
    const disabled = !pending && !(S.cart && S.cart.items.length);
    fill(savedList, ...cards.map((c) => h('li', { class: 'saved-card', dataset: { cardId: c.id } },
      h('button', {
        type: 'button', class: 'primary pay-saved', disabled, onclick: (e) => pay(c.id, e.currentTarget),
      }, `Pay with ${cardName(c)}`),
      h('button', {
        type: 'button', class: 'ghost small remove-card', 'aria-label': `Remove ${cardName(c)}`,
        onclick: (e) => removeCard(c, e.currentTarget),
      }, 'Remove'))));
    savedList.hidden = cards.length === 0;
    fill(newCardLabel, cards.length ? 'Or a new card' : 'Card');
  }

  async function loadCards() {
    if (!S.token) return;
    try {
      cards = (await call('GET', '/cards')).cards || [];
    } catch (e) {
      console.warn('saved cards', e);
    }
    render();
  }

  function removeCard(c, button) {
    busy(button, async () => {
      await call('DELETE', `/cards/${encodeURIComponent(c.id)}`);
      cards = cards.filter((x) => x.id !== c.id);
      render();
      say(`${cardName(c)} was removed.`);
      // Its buttons are gone: the keyboard goes on to the next card's, or the Pay button.
      const next = savedList.querySelector('.pay-saved');
      (next || (el.checkout.disabled ? $('#cart-close') : el.checkout)).focus();
    }, el.cartError);
  }

  /** Marks the fields of `errors` ({field: message}) and clears the others. */
  function markFields(errors) {
    for (const f of FIELDS) {
      const box = input(f);
      const id = `pay-error-${f}`;
      let note = document.getElementById(id);
      if (errors[f]) {
        if (!note) {
          note = h('p', { id, class: 'field-error' });
          box.after(note);
        }
        fill(note, errors[f]);
        note.hidden = false;
        box.setAttribute('aria-invalid', 'true');
        box.setAttribute('aria-describedby', id);
      } else {
        if (note) note.hidden = true;
        box.removeAttribute('aria-invalid');
        box.removeAttribute('aria-describedby');
      }
    }
    const first = FIELDS.find((f) => errors[f]);
    if (first) input(first).focus();
  }

  /** The checkout's body from the form, remembered for next time; throws when a field is wrong. */
  function details() {
    const values = Object.fromEntries(FIELDS.map((f) => [f, input(f).value]));
    const checked = checkDetails(values);
    if (!checked.ok) {
      markFields(checked.errors);
      const n = Object.keys(checked.errors).length;
      throw new Error(n === 1 ? Object.values(checked.errors)[0] : `Check the ${n} highlighted fields.`);
    }
    markFields({});
    rememberDetails(store, checked.body);
    return checked.body;
  }

  /** A refused API call in a buyer's words (marking the field a 422 names). */
  function words(e) {
    if (!(e instanceof ApiError)) return e;
    const field = fieldOfProblem(e.code, e.problem && e.problem.detail);
    if (field) markFields({ [field]: cardWords(e.code, e.problem) });
    const text = cardWords(e.code, e.problem || {});
    return text ? new ApiError(e.status, e.code, text, e.problem) : e;
  }

  /** The new card, saved with a SetupIntent: its payment method id. */
  async function newCard(body) {
    if (!card) throw new Error('Card payments could not load. Reload the page to try again.');
    const { client_secret: secret } = await call('POST', '/cards/setup');
    const { shipping: s } = body;
    const address = { line1: s.line1, city: s.city, postal_code: s.postal_code, country: s.country };
    if (s.line2) address.line2 = s.line2;
    if (s.state) address.state = s.state;
    const r = await stripe.confirmCardSetup(secret, {
      payment_method: { card, billing_details: { name: s.name, email: body.email, address } },
    });
    if (r.error) throw new Error((r.error && r.error.message) || 'That card could not be used. Try another card.');
    const pm = r.setupIntent && r.setupIntent.payment_method;
    return typeof pm === 'string' ? pm : pm && pm.id;
  }

  /** Resolves with the order once it stops waiting for its payment (or null after a while). */
  function settled(orderId) {
    return new Promise((resolve) => {
      let done = false;
      const finish = (order) => {
        if (done) return;
        done = true;
        settle = null;
        clearInterval(poll);
        clearTimeout(giveUp);
        resolve(order);
      };
      settle = (order) => { if (order.id === orderId && order.status !== 'pending_payment') finish(order); };
      const poll = setInterval(() => {
        call('GET', `/orders/${orderId}`).then((o) => settle && settle(o), () => {});
      }, POLL_MS);
      const giveUp = setTimeout(() => finish(null), SETTLE_MS);
    });
  }

  function paid(order) {
    pending = null;
    say('');
    const n = order.items ? order.items.reduce((a, i) => a + (i.quantity || 0), 0) : 0;
    fill(el.confirmation,
      h('strong', {}, 'Paid. Thank you!'), h('br'),
      `Order ${String(order.id).slice(-8)} · ${n} item${n === 1 ? '' : 's'} · ${formatMoney(order.total)}`,
      order.shipping ? ` · ships to ${order.shipping.name}, ${order.shipping.city}` : '');
    el.confirmation.dataset.orderId = order.id;
    el.confirmation.dataset.status = order.status;
    el.confirmation.hidden = false;
    el.confirmation.focus();
    if (card && typeof card.clear === 'function') card.clear();
    loadCards();
    reload();
  }

  /** Pays the pending order with `cardId` (a saved card) or the new card in the element. */
  async function payPending(cardId, body) {
    const order = pending;
    say(cardId ? 'Paying with your saved card…' : 'Checking your card…');
    let answer;
    try {
      const method = cardId || await newCard(body);
      say('Paying…');
      answer = await call('POST', `/orders/${order.id}/pay`, { payment_method: method });
    } catch (e) {
      say('');
      if (e instanceof ApiError && e.code === 'order_not_pending') {
        pending = null;
        reload();
      }
      // A decline leaves the order waiting: the buyer may type another card into the element.
      if (card && typeof card.clear === 'function' && e.code === 'payment_declined') card.clear();
      reserved();
      throw words(e);
    }
    if (answer.status === 'requires_action') {
      if (!stripe) throw new Error('Card payments could not load. Reload the page to try again.');
      say('Your bank asks you to confirm the payment…');
      const r = await stripe.confirmCardPayment(answer.client_secret);
      if (r.error) {
        reserved();
        throw new Error(r.error.message || 'The payment was not confirmed, so nothing was charged. Try again.');
      }
    }
    say('Confirming the payment…');
    const final = await settled(order.id);
    if (!final) {
      say('The payment is taking longer than usual. This drawer shows it as soon as it is done.');
      return;
    }
    if (final.status === 'paid') {
      paid(final);
      return;
    }
    pending = null;
    say('');
    reload();
    throw new Error(unpaidOrderWords(final.status) || `The order is ${final.status.replace(/_/g, ' ')}.`);
  }

  /** Drawn with the cart: a waiting order stands in for the (emptied) cart. */
  function render() {
    if (pending) {
      fill(el.cartTotal, formatMoney(pending.total));
      el.checkout.disabled = false;
      el.cartEmpty.hidden = true;
    }
    // Nothing to pay for: no details or new card to ask for, only the saved cards to manage.
    const idle = !pending && !(S.cart && S.cart.items.length);
    renderCards();
    detailsBox.hidden = idle;
    newCardLabel.hidden = idle;
    cardBox.hidden = idle;
    $('.pay-card', form).hidden = idle && cards.length === 0;
  }

  /** What a waiting order holds, said after a refusal the buyer may try again from. */
  function reserved() {
    if (!pending) return;
    const until = pending.reserved_until ? ` until ${timeOf(pending.reserved_until)}` : '';
    say(`Your items stay reserved${until} while you try another card.`);
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    el.checkout.click();
  });

  return {
    /** Whether an order waits for its payment (the Pay button pays it, nothing is reserved again). */
    pending: () => pending !== null,
    /** On the drawer's opening: the card element, the remembered details, the saved cards. */
    opened() {
      mountCard();
      prefill();
      loadCards();
    },
    /** The checkout's body (`{email, shipping}`); throws with words when a field is wrong. */
    details,
    /** A checkout's words for a refusal of it (a 422 marks its field). */
    words,
    /** After the checkout answered `placed` (`{order, payment}`): pays it with `cardId` or the new card. */
    async payPlaced(placed, cardId, body) {
      pending = placed.order;
      if (placed.payment && Array.isArray(placed.payment.saved_cards)) cards = placed.payment.saved_cards;
      render();
      return payPending(cardId, body);
    },
    /** Pays the order still waiting (after a decline) with `cardId` or the new card. */
    retry: (cardId) => payPending(cardId, details()),
    /** The room's `order.updated`. */
    updated(order) {
      if (settle && order) settle(order);
    },
    /** Drawn with the cart: a waiting order's total stands in for the (emptied) cart's. */
    render,
  };
}
