// The viewer's auction card (docs/viewer.md, "Auctions"): the lot in the stream, shown like a
// pin: the product, the current bid and its leader, a countdown to `ends_at` on the server's
// clock, the big "Bid $X" button (X = `next_minimum`; the first bid of a session is confirmed),
// the "Set a max bid" sheet (a proxy bid, or a pre-bid on a scheduled lot), the last few bids,
// "You're winning" / "You've been outbid", the end ("Sold to X for $Y"), the winner's payment
// and the runner-up's offer (auctionpay.js).
//
// Bids go over the live room (`auction.bid` with a fresh `key`, answered by `auction.ack` or an
// `error` frame with the key); while the room is not open, or when no answer comes, over HTTP
// (`POST …/bids` with the same key as its Idempotency-Key, so a bid is placed at most once).
// Auction messages are applied at once, never held for the picture (intime.js): a bid is
// accepted on the server's clock now, whatever the video shows.

import { api, ApiError, formatMoney, newKey, parseMoney } from '../api.js';
import { h, $, fill, busy, showError } from '../dom.js';
import { Command, Conn, AuctionStatus, AuctionResult, Code } from '../protocol.js';
import { auctionWords, isAuctionCode } from './errors.js';
import { newerAuction, resultOf, resultText, countdownText, priceLine, auctionSecondsLeft } from './auction.js';
import { auctionPay } from './auctionpay.js';

/** How long a bid sent over the room waits for its answer before it goes over HTTP. */
const ACK_MS = 5000;
/** How many bids the card lists. */
const LAST_BIDS = 5;
/** How long after saving a card a `card_required` is taken for "not known yet", and the wait. */
const CARD_FRESH_MS = 15000;
const CARD_RETRY_MS = 2500;

/**
 * The card of page state `S` (`token`); `room` is the live room, `clock` the server's clock,
 * `identity` asks a guest for a name. Returns the room handlers and `tick()` (see the end).
 */
export function auctionCard({ showId, S, root, room, clock, identity }) {
  const el = Object.fromEntries(['auction', 'auction-img', 'auction-badge', 'auction-countdown', 'auction-product',
    'auction-current', 'auction-leader', 'auction-status', 'bid-button', 'max-button', 'offer-button', 'auction-pay',
    'auction-card', 'auction-error', 'auction-bids', 'bid-confirm', 'bid-confirm-body', 'bid-confirm-ok', 'max-sheet',
    'max-form', 'max-amount', 'max-label', 'max-error', 'max-cancel', 'max-sheet-h', 'card-sheet', 'card-form',
    'card-sheet-error', 'card-cancel', 'auction-card-element']
    .map((id) => [id, document.getElementById(id)]));
  const A = {
    auction: null, // the lot's view
    result: null, // auction.ended's result
    orderId: null, // the winner's order
    outbid: false, // this viewer was outbid on this lot (auction.outbid)
    myMax: null, // the maximum this viewer set on this lot (amount)
    note: '', // the last bid's answer, in words
    bids: [], // [{name, amount}] newest first
    products: null, // product id → {title, image_url}
    pending: new Map(), // key → {resolve, reject, timer}
    cardSavedAt: null, // when this page saved a card (Date.now())
  };
  const confirmKey = `auction-confirmed:${showId}`;
  const call = (method, path, body, headers) => api(method, `/api/shows/${showId}${path}`, { token: S.token, body, headers });
  const pay = auctionPay({ root, call, changed: () => render() });
  const money = (m) => formatMoney(m);
  const mine = (bidder) => !!(bidder && S.me && bidder.viewer_id === S.me);

  // ---- the product ----------------------------------------------------------------------------

  function product(id) {
    const pin = (S.pins || []).find((p) => p.product_id === id);
    if (pin) return pin;
    if (A.products && A.products.has(id)) return A.products.get(id);
    const li = document.querySelector(`#lineup .product[data-product-id="${CSS.escape(id)}"] .product-title`);
    if (!A.products) loadProducts();
    return { title: li ? li.textContent : 'This lot', image_url: null };
  }

  function loadProducts() {
    A.products = new Map();
    api('GET', `/api/shows/${showId}/lineup`).then((r) => {
      for (const p of r.products || []) A.products.set(p.id, p);
      render();
    }, () => {});
  }

  // ---- the lot --------------------------------------------------------------------------------

  /** Takes lot view `a` (from any message or answer) when it is newer than the one known. */
  function take(a, extra = {}) {
    if (!newerAuction(a, A.auction)) return false;
    if (!A.auction || A.auction.id !== a.id) {
      Object.assign(A, { result: null, orderId: null, outbid: false, myMax: null, note: '', bids: [] });
      pay.reset();
      if (a.current && a.leader) A.bids = [{ name: a.leader.name, amount: a.current }];
    }
    A.auction = a;
    if (mine(a.leader)) A.outbid = false;
    if (extra.result) A.result = extra.result;
    if (extra.order_id) A.orderId = extra.order_id;
    return true;
  }

  function addBid(a) {
    if (!a.current || !a.leader) return;
    const last = A.bids[0];
    if (last && last.amount.amount === a.current.amount) return;
    A.bids.unshift({ name: a.leader.name, amount: a.current });
    A.bids.length = Math.min(A.bids.length, LAST_BIDS);
  }

  /** The winner's part once the lot closed: their order is read until paid. */
  function ended() {
    const a = A.auction;
    if (a && a.status === AuctionStatus.CLOSED && mine(a.winner) && A.orderId) pay.watch(A.orderId);
  }

  // ---- drawing --------------------------------------------------------------------------------

  /** "You're winning", "You've been outbid", the result, the winner's payment. */
  function standing(a) {
    if (a.status === AuctionStatus.CLOSED) {
      if (mine(a.winner)) return { state: 'won', text: `You won! ${A.orderId ? pay.orderWords(A.orderId) : ''}`.trim() };
      if (pay.offer() && pay.offerOpen(clock.now())) return { state: 'offer', text: pay.offerWords() };
      const r = resultOf(a, A.result);
      return { state: r === AuctionResult.SOLD ? 'sold' : 'unsold', text: resultText(a, A.result) };
    }
    const max = A.myMax && (!a.current || A.myMax > a.current.amount) ? ` · your max ${money({ ...a.next_minimum, amount: A.myMax })}` : '';
    if (a.status === AuctionStatus.SCHEDULED) {
      return A.myMax
        ? { state: 'prebid', text: `Your pre-bid: up to ${money({ ...a.next_minimum, amount: A.myMax })}` }
        : { state: 'scheduled', text: 'Opening soon. Set a max bid now and it bids for you.' };
    }
    if (mine(a.leader)) return { state: 'winning', text: `You're winning${max}` };
    if (A.outbid) return { state: 'outbid', text: 'You\'ve been outbid' };
    return { state: 'open', text: '' };
  }

  function renderHead(a) {
    const p = product(a.product_id);
    fill(el['auction-product'], p.title || 'This lot');
    el['auction-img'].hidden = !p.image_url;
    if (p.image_url && el['auction-img'].getAttribute('src') !== p.image_url) el['auction-img'].src = p.image_url;
    fill(el['auction-badge'], a.status === AuctionStatus.OPEN ? 'Live auction' : a.status === AuctionStatus.SCHEDULED ? 'Auction soon' : 'Auction ended');
    fill(el['auction-current'], a.status === AuctionStatus.CLOSED && !a.current ? 'No bids' : priceLine(a));
    fill(el['auction-leader'], a.leader ? (mine(a.leader) ? 'You' : a.leader.name) : '');
    tick();
  }

  /** The keyboard's next place on the card: its first visible action, else the card. */
  const nextPlace = () => [el['bid-button'], el['max-button'], el['offer-button'], el['auction-pay']].find((b) => !b.hidden) || el.auction;

  /** Shows `button` (with `text`) when `on`; the focus never falls off a button that hides. */
  function show(button, on, text) {
    if (text !== undefined && button.textContent !== text) fill(button, text);
    const focused = button === document.activeElement;
    button.hidden = !on;
    if (!on && focused) nextPlace().focus();
  }

  function renderActions(a, st) {
    const open = a.status === AuctionStatus.OPEN;
    const amount = a.next_minimum;
    el['bid-button'].dataset.amount = String(amount.amount);
    show(el['bid-button'], open && st.state !== 'winning', `Bid ${money(amount)}`);
    el['bid-button'].setAttribute('aria-label', `${st.state === 'outbid' ? 'Bid again: ' : 'Bid '}${money(amount)} on ${product(a.product_id).title}`);
    show(el['max-button'], open || a.status === AuctionStatus.SCHEDULED,
      a.status === AuctionStatus.SCHEDULED ? 'Pre-bid: set a max' : (A.myMax ? 'Raise my max' : 'Set a max bid'));
    const offer = pay.offer();
    show(el['offer-button'], st.state === 'offer', offer ? `Buy it for ${money(offer.price)}` : 'Buy it');
    show(el['auction-pay'], a.status === AuctionStatus.CLOSED && pay.pendingAction());
    if (el['bid-confirm'].open) {
      fill(el['bid-confirm-body'], `Bid ${money(amount)} on ${product(a.product_id).title}? If you win, your saved card is charged right away.`);
      fill(el['bid-confirm-ok'], `Bid ${money(amount)}`);
    }
  }

  function render() {
    const a = A.auction;
    el.auction.hidden = !a;
    root.classList.toggle('has-auction', !!a);
    if (!a) return;
    const st = standing(a);
    el.auction.dataset.state = st.state;
    el.auction.dataset.status = a.status;
    el.auction.dataset.auctionId = a.id;
    renderHead(a);
    const note = pay.note() || A.note;
    const text = [st.text, note].filter(Boolean).join(' · ');
    if (el['auction-status'].textContent !== text) fill(el['auction-status'], text);
    renderActions(a, st);
    fill(el['auction-bids'], ...A.bids.map((b, i) => h('li', { class: i === 0 ? 'latest' : '' },
      h('bdi', { dir: 'auto' }, b.name), ' ', h('span', { class: 'bid-amount' }, money(b.amount)))));
  }

  /** The countdown, once a second (and the offer's expiry). */
  function tick() {
    const a = A.auction;
    if (!a) return;
    const text = countdownText(a, clock.now());
    const c = el['auction-countdown'];
    if (c.textContent !== text) fill(c, text);
    const left = auctionSecondsLeft(a, clock.now());
    c.dataset.seconds = left === null ? '' : String(Math.ceil(left));
    c.classList.toggle('ending', a.status === AuctionStatus.OPEN && left !== null && left <= 10);
    if (pay.offer() && !pay.offerOpen(clock.now()) && !el['offer-button'].hidden) render();
  }

  // ---- bidding --------------------------------------------------------------------------------

  /** Sends bid `body` (`{amount}` or `{max_amount}`): over the room, else (or late) over HTTP. */
  function send(body) {
    const a = A.auction;
    const key = newKey();
    const http = () => call('POST', `/auctions/${a.id}/bids`, body, { 'Idempotency-Key': key });
    if (room.state !== Conn.OPEN) return http();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { A.pending.delete(key); http().then(resolve, reject); }, ACK_MS);
      A.pending.set(key, { resolve, reject, timer, at: Date.now() });
      room.send({ type: Command.AUCTION_BID, auction_id: a.id, ...body, key });
    });
  }

  /**
   * `send`, once more after a moment when a card saved a few seconds ago is not known yet (the
   * server keeps a "no card" answer for two seconds, and the processor may lag too).
   */
  async function sendChecked(body) {
    try {
      return await send(body);
    } catch (e) {
      const fresh = A.cardSavedAt && Date.now() - A.cardSavedAt < CARD_FRESH_MS;
      if (!(e instanceof ApiError) || e.code !== Code.CARD_REQUIRED || !fresh) throw e;
      A.note = 'Checking your new card…';
      render();
      await new Promise((resolve) => { setTimeout(resolve, CARD_RETRY_MS); });
      A.note = '';
      return send(body);
    }
  }

  /** The words of a refused bid, and what the card does about it. */
  function refused(e) {
    if (!(e instanceof ApiError)) return e;
    if (e.code === Code.JOIN_REQUIRED || e.status === 401) {
      identity.ask('Pick a name to bid');
    }
    if (e.code === Code.BID_TOO_LOW || e.code === 'auction_closed' || e.code === 'auction_not_open') refresh();
    if (e.code === Code.CARD_REQUIRED) show(el['auction-card'], pay.cards());
    render();
    const words = auctionWords(e.code, e.problem || {}, money);
    return words ? new ApiError(e.status, e.code, words, e.problem) : e;
  }

  /** What an accepted bid's answer (`{outcome, auction}`) says to its bidder. */
  function answered(r, body) {
    if (body.max_amount) A.myMax = Math.max(A.myMax || 0, body.max_amount);
    if (r.auction) take(r.auction);
    // A raised maximum and a pre-bid show in the standing line ("your max $M", "Your pre-bid").
    A.note = '';
    if (r.outcome === 'accepted' && !mine(A.auction.leader)) A.outbid = true;
    render();
  }

  async function place(body, button) {
    el['auction-error'].hidden = true;
    A.note = '';
    const hadFocus = document.activeElement === button;
    await busy(button, async () => {
      let r;
      try {
        r = await sendChecked(body);
      } catch (e) {
        throw refused(e);
      }
      answered(r, body);
    }, el['auction-error']);
    // The bid button hides once its bidder leads: the keyboard goes on to "Raise my max".
    const lost = !document.activeElement || document.activeElement === document.body;
    if (hadFocus && lost && button.hidden) nextPlace().focus();
  }

  const confirmed = () => { try { return sessionStorage.getItem(confirmKey) === '1'; } catch { return false; } };
  const remember = () => { try { sessionStorage.setItem(confirmKey, '1'); } catch { /* this visit only */ } };

  function bid() {
    if (identity.need('Pick a name to bid', async () => bid())) return;
    if (!confirmed()) {
      el['bid-confirm'].returnValue = '';
      el['bid-confirm'].showModal();
      render();
      return;
    }
    place({ amount: Number(el['bid-button'].dataset.amount) }, el['bid-button']);
  }

  el['bid-button'].addEventListener('click', bid);
  el['bid-confirm'].addEventListener('close', () => {
    if (el['bid-confirm'].returnValue !== 'bid') return;
    remember();
    el['bid-button'].focus();
    place({ amount: Number(el['bid-button'].dataset.amount) }, el['bid-button']);
  });

  // ---- the max-bid sheet ----------------------------------------------------------------------

  function openMax() {
    if (identity.need('Pick a name to bid', async () => openMax())) return;
    const a = A.auction;
    const cur = a.next_minimum.currency;
    fill(el['max-sheet-h'], a.status === AuctionStatus.SCHEDULED ? 'Pre-bid: set a max' : 'Set a max bid');
    fill(el['max-label'], `Your maximum (${cur}), at least ${money(a.next_minimum)}`);
    el['max-error'].hidden = true;
    el['max-amount'].removeAttribute('aria-invalid');
    el['max-amount'].value = '';
    el['max-sheet'].showModal();
    el['max-amount'].focus();
  }

  function maxError(text) {
    fill(el['max-error'], text);
    el['max-error'].hidden = false;
    el['max-amount'].setAttribute('aria-invalid', 'true');
    el['max-amount'].focus();
  }

  el['max-button'].addEventListener('click', openMax);
  el['max-cancel'].addEventListener('click', () => el['max-sheet'].close());
  el['max-form'].addEventListener('submit', async (e) => {
    e.preventDefault();
    const a = A.auction;
    const amount = parseMoney(el['max-amount'].value, a.next_minimum.currency);
    if (amount === null || amount <= 0) {
      maxError(`Enter an amount like ${money(a.next_minimum).replace(/[^\d.,]/g, '')}.`);
      return;
    }
    if (amount < a.next_minimum.amount) {
      maxError(`Your maximum must be at least ${money(a.next_minimum)}.`);
      return;
    }
    el['max-error'].hidden = true;
    const submit = $('#max-submit');
    await busy(submit, async () => {
      try {
        answered(await sendChecked({ max_amount: amount }), { max_amount: amount });
      } catch (err) {
        throw refused(err);
      }
      el['max-sheet'].close();
      (el['max-button'].hidden ? el.auction : el['max-button']).focus();
    }, el['max-error']);
  });

  // ---- paying: the offer, 3-D Secure, saving a card --------------------------------------------

  el['offer-button'].addEventListener('click', () => busy(el['offer-button'], async () => {
    try {
      await pay.buyOffer(A.auction.id);
    } catch (e) {
      throw refused(e);
    }
  }, el['auction-error']));
  el['auction-pay'].addEventListener('click', () => busy(el['auction-pay'], () => pay.confirmAction(), el['auction-error']));
  if (el['card-sheet']) {
    el['auction-card'].addEventListener('click', () => {
      el['card-sheet-error'].hidden = true;
      el['card-sheet'].showModal();
      if (!pay.mountCard(el['auction-card-element'])) showError(new Error('Card payments could not load. Reload the page to try again.'), el['card-sheet-error']);
    });
    el['card-cancel'].addEventListener('click', () => el['card-sheet'].close());
    el['card-form'].addEventListener('submit', (e) => {
      e.preventDefault();
      busy($('#card-save'), async () => {
        await pay.saveCard();
        el['card-sheet'].close();
        show(el['auction-card'], false);
        el['auction-error'].hidden = true;
        A.cardSavedAt = Date.now();
        A.note = 'Card saved: you can bid now.';
        render();
        (el['bid-button'].hidden ? el['max-button'] : el['bid-button']).focus();
      }, el['card-sheet-error']);
    });
  }

  /** Reads the lot again (after a refusal said it moved on). */
  function refresh() {
    const a = A.auction;
    if (!a) return;
    api('GET', `/api/shows/${showId}/auctions/${a.id}`).then((v) => { if (take(v)) render(); }, () => {});
  }

  // ---- the room -------------------------------------------------------------------------------

  /** An answer to a bid sent over the room: `auction.ack`, or an `error` frame for it. */
  function settle(key, ok, value) {
    const p = A.pending.get(key);
    if (!p) return false;
    clearTimeout(p.timer);
    A.pending.delete(key);
    (ok ? p.resolve : p.reject)(value);
    return true;
  }

  const frameError = (f) => new ApiError(409, f.code, f.message || f.code, {
    ...f, retry_after_s: f.retry_after_ms ? Math.ceil(f.retry_after_ms / 1000) : undefined,
  });

  return {
    state: A,
    welcome(w) {
      S.me = (w.you && w.you.viewer_id) || null;
      // A welcome is the room as it is now: no lot at all (null) hides the card.
      if (w.auction === null) A.auction = null;
      else if (w.auction) {
        take(w.auction);
        ended();
      }
      render();
    },
    /** `auction.scheduled`, `auction.started`: a lot to show (a new one replaces the last). */
    lot(m) { if (take(m.auction)) render(); },
    /** `auction.bid`: the price rose. */
    bid(m) {
      if (!take(m.auction)) return;
      addBid(m.auction);
      render();
    },
    /** `auction.ended`. */
    ended(m) {
      take(m.auction, { result: m.result, order_id: m.order_id });
      ended();
      render();
    },
    /** `auction.outbid`: this viewer lost the lead. */
    outbid(m) {
      take(m.auction);
      if (A.auction && m.auction && A.auction.id === m.auction.id && !mine(A.auction.leader)) A.outbid = true;
      render();
    },
    payment: (m) => pay.needsAction(m),
    offer: (m) => pay.offered(m),
    orderUpdated: (order) => pay.updated(order),
    ack(f) {
      settle(f.key, true, { outcome: f.outcome, auction: f.auction });
    },
    /** An `error` frame: true when it answered a bid (and must not show in the chat). */
    error(f) {
      // Only a bid's refusal echoes its key (one that timed out went over HTTP meanwhile).
      if (f.key) return settle(f.key, false, frameError(f)) || isAuctionCode(f.code);
      if (!f.key && isAuctionCode(f.code) && A.pending.size === 1) {
        return settle(A.pending.keys().next().value, false, frameError(f));
      }
      return false;
    },
    tick,
    render,
  };
}
