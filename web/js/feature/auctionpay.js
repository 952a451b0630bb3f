// The money side of the viewer's auction card (auctioncard.js): the winner's order as the server
// reports it (`order.updated`, or reading the order while it waits), the 3-D Secure step a bank
// may ask for on the off-session charge (`auction.payment`: Stripe.js `confirmCardPayment`, as
// the checkout does in cardpay.js), the runner-up's offer (`auction.offer`, paid with
// `POST …/offer`), and saving a card when a bid was refused with `card_required` (a SetupIntent
// confirmed with Stripe.js's card element, as the checkout saves a new card).

import { ApiError, formatMoney } from '../api.js';
import { timeOf } from '../dom.js';
import { unpaidOrderWords } from './errors.js';

/** How often the page reads a won order while its `order.updated` has not come. */
const POLL_MS = 1500;
/** How long it reads it before leaving it to the room's message. */
const POLL_FOR_MS = 90000;

/**
 * The payments of the auction card: `call(method, path, body)` is the show's API call with the
 * viewer's token, `changed()` redraws the card. Returns the hooks the card uses.
 */
export function auctionPay({ root, call, changed }) {
  /** order id → the order as last seen. */
  const orders = new Map();
  /** order id → the poll's timer. */
  const polls = new Map();
  /** The 3-D Secure step waiting for the buyer (`auction.payment`), or null. */
  let action = null;
  /** The runner-up's offer (`auction.offer`), or null. */
  let offer = null;
  let stripe = null;
  let cardElement = null;
  /** What the last payment step said (an error in words), shown by the card. */
  let note = '';

  function stripeFor(key) {
    if (stripe) return stripe;
    if (typeof window.Stripe !== 'function' || !key) return null;
    stripe = window.Stripe(key);
    return stripe;
  }

  function updated(order) {
    if (!order || !order.id) return;
    orders.set(order.id, order);
    if (order.status !== 'pending_payment') {
      clearInterval(polls.get(order.id));
      polls.delete(order.id);
      if (action && action.order_id === order.id) action = null;
      if (offer && offer.order_id === order.id && order.status === 'paid') offer = null;
    }
    changed();
  }

  /** Reads order `id` now and every POLL_MS while it waits for its payment. */
  function watch(id) {
    if (!id || polls.has(id) || (orders.get(id) && orders.get(id).status !== 'pending_payment')) return;
    const read = () => call('GET', `/orders/${id}`).then(updated, () => {});
    const started = Date.now();
    polls.set(id, setInterval(() => {
      if (Date.now() - started > POLL_FOR_MS) {
        clearInterval(polls.get(id));
        polls.delete(id);
        return;
      }
      read();
    }, POLL_MS));
    read();
  }

  /** The winner's or the runner-up's order `id` in words, or '' while unknown. */
  function orderWords(id) {
    const o = orders.get(id);
    if (!o) return 'Charging your saved card…';
    if (o.status === 'paid') return `Paid with your saved card. Order ${String(o.id).slice(-8)} · ${formatMoney(o.total)}.`;
    if (o.status === 'pending_payment') return action ? 'Your bank asks you to confirm the payment.' : 'Charging your saved card…';
    return unpaidOrderWords(o.status) || `The order is ${o.status.replace(/_/g, ' ')}.`;
  }

  /** `auction.payment`: the charge needs 3-D Secure; asks the bank's page at once. */
  function needsAction(m) {
    action = m;
    changed();
    confirmAction().catch(() => {});
  }

  /** Finishes the waiting 3-D Secure step with Stripe.js (again from the card's button). */
  async function confirmAction() {
    const a = action;
    if (!a) return;
    const s = stripeFor(a.publishable_key || root.dataset.stripeKey);
    if (!s) {
      note = 'Card payments could not load. Reload the page to confirm the payment.';
      changed();
      return;
    }
    note = '';
    const r = await s.confirmCardPayment(a.client_secret);
    if (r.error) {
      note = r.error.message || 'The payment was not confirmed. Try again.';
      changed();
      throw new Error(note);
    }
    watch(a.order_id);
    changed();
  }

  /** `auction.offer`: the winner did not pay and the lot is offered to this viewer. */
  function offered(m) {
    offer = m;
    changed();
  }

  /** Whether the offer is still open at server time `nowMs`. */
  const offerOpen = (nowMs) => !!offer && (!offer.expires_at || new Date(offer.expires_at).getTime() > nowMs);

  /** Buys the offered lot with the saved card (`POST …/offer`), 3-D Secure included. */
  async function buyOffer(auctionId) {
    const o = offer;
    if (!o) return;
    note = '';
    const answer = await call('POST', `/auctions/${auctionId}/offer`, {});
    if (answer.order) updated(answer.order);
    if (answer.status === 'requires_action') {
      action = { order_id: answer.order ? answer.order.id : o.order_id, client_secret: answer.client_secret };
      await confirmAction();
    }
    watch(answer.order ? answer.order.id : o.order_id);
  }

  /** The offer's line: "The winner did not pay: yours for $30.00 until 21:06". */
  function offerWords() {
    if (!offer) return '';
    const until = offer.expires_at ? ` until ${timeOf(offer.expires_at)}` : '';
    return `The winner did not pay: it can be yours for ${formatMoney(offer.price)}${until}.`;
  }

  /** Mounts Stripe.js's card element in `box` (the card sheet), once. */
  function mountCard(box) {
    if (cardElement) return true;
    const s = stripeFor(root.dataset.stripeKey);
    if (!s) return false;
    cardElement = s.elements().create('card', { hidePostalCode: true });
    cardElement.mount(box);
    return true;
  }

  /** Saves the card typed in the sheet (a SetupIntent, as the checkout saves a new card). */
  async function saveCard() {
    if (!cardElement) throw new Error('Card payments could not load. Reload the page to try again.');
    const { client_secret: secret } = await call('POST', '/cards/setup');
    const r = await stripe.confirmCardSetup(secret, { payment_method: { card: cardElement } });
    if (r.error) throw new ApiError(402, 'card_setup', r.error.message || 'That card could not be saved. Try another card.');
    if (typeof cardElement.clear === 'function') cardElement.clear();
  }

  return {
    updated,
    watch,
    orderWords,
    needsAction,
    confirmAction,
    offered,
    offerOpen,
    offerWords,
    buyOffer,
    mountCard,
    saveCard,
    /** Whether a 3-D Secure step waits for the buyer. */
    pendingAction: () => !!action,
    /** The offer for this viewer, or null. */
    offer: () => offer,
    /** Forgets the offer (another lot started). */
    reset() { offer = null; action = null; note = ''; },
    /** The last payment step's error, in words. */
    note: () => note,
    /** Whether cards can be saved on this page (`--payments stripe`). */
    cards: () => root.dataset.payments === 'stripe' && !!root.dataset.stripeKey,
    orders,
  };
}
