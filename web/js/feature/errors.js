// Every error code a page can meet, in words a person understands: one table per place the code
// comes from (any API answer, a chat `error` frame, the cart and checkout, the studio's refunds,
// a moderation command, the room's close codes, the camera of this device). Pages never spell
// these out themselves; they ask here with the code (and the server's detail where the words
// quote it).

import { Close } from '../protocol.js';

/** `table[key]` when the table itself has it (never an Object.prototype member). */
function lookup(table, key) {
  return key !== undefined && key !== null && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** Any API call: codes whose server text is not for people. */
const API = {
  network: 'The server could not be reached. Check your connection and try again.',
  unavailable: 'The service is busy for a moment. Please try again.',
  token_expired: 'Your session has expired. Reload the page to continue.',
  invalid_token: 'Your session is no longer valid. Reload the page to continue.',
};

/** The words for an API error `code`, or undefined when the server's own text should show. */
export function apiWords(code) {
  return lookup(API, code);
}

/** A chat `error` frame, for the person who sent the message. */
const CHAT = {
  join_required: () => 'Pick a name to chat.',
  rate_limited: (f, seconds) => (seconds ? `Slow down: try again in ${seconds} s.` : 'Slow down a little.'),
  slow_mode: (f) => f.message || 'Slow mode is on: wait a moment between messages.',
  message_too_long: (f) => f.message || 'That message is too long.',
  empty_message: () => 'Type a message first.',
  forbidden_characters: () => 'That message has characters chat does not allow.',
  chat_paused: () => 'Chat is paused by the moderators.',
  timed_out: (f) => f.message || 'You are timed out for a while.',
  banned: () => 'You cannot chat in this show.',
};

/** The human text of a chat `error` frame's code (`{code, message, retry_after_ms}`). */
export function chatErrorText(frame) {
  const seconds = frame.retry_after_ms ? Math.ceil(frame.retry_after_ms / 1000) : null;
  const words = lookup(CHAT, frame.code);
  return words ? words(frame, seconds) : frame.message || 'That did not work. Please try again.';
}

/** The cart and checkout; `p` is the problem (its `detail` names the product or the limit). */
const SHOP = {
  sold_out: (p) => (p.detail ? `Sorry, ${p.detail}.` : 'Sorry, that just sold out.'),
  insufficient_stock: (p) => p.detail || 'There are not that many left.',
  over_limit: (p) => p.detail || 'That is more than this deal allows per buyer.',
  deal_ended: () => 'The deal has ended; the regular price applies now.',
  show_ended: () => 'This show has ended, so the cart is closed.',
  show_cancelled: () => 'This show was cancelled, so the cart is closed.',
  empty_cart: () => 'Your cart is empty.',
  cart_full: (p) => p.detail || 'Your cart is full.',
  payment_declined: () => 'The payment was declined. Nothing was charged.',
  payment_failed: () => 'The payment did not go through. Please try again.',
  reservation_expired: () => 'Your reservation expired. Please try again.',
  currency_mismatch: (p) => p.detail || 'That product is priced in another currency than your cart.',
  product_not_found: () => 'That product is no longer sold in this show.',
  banned: () => 'You cannot shop in this show.',
};

/** Words for a refused cart or checkout call, or undefined for the server's own text. */
export function shopWords(code, problem = {}) {
  const words = lookup(SHOP, code);
  return words ? words(problem) : undefined;
}

/** Paying an order by card in the drawer; `p` is the problem (`retry_after_s` when busy). */
const CARD = {
  payment_declined: () => 'Your card was declined, so nothing was charged. Try another card.',
  invalid_payment_method: () => 'That card cannot be used. Try another card.',
  payment_unavailable: (p) => `Card payments are unavailable for a moment and nothing was charged. Try again${
    p.retry_after_s ? ` in ${p.retry_after_s} s` : ' shortly'}.`,
  order_not_pending: () => 'Your reservation lapsed, so the items went back on sale and nothing was charged. '
    + 'Add them to your cart again to buy them.',
  invalid_email: () => 'Check your email address.',
  invalid_shipping: () => 'Check your shipping address.',
  card_not_found: () => 'That card is no longer saved.',
};

/** Words for a refused card payment or card checkout, else the cart's words, else undefined. */
export function cardWords(code, problem = {}) {
  const words = lookup(CARD, code);
  return words ? words(problem) : shopWords(code, problem);
}

/** An order that stopped waiting for its payment without being paid (`order.status`). */
const UNPAID_ORDER = {
  expired: 'Your reservation lapsed, so the items went back on sale and nothing was charged.',
  failed: 'The payment did not go through, so nothing was charged.',
  refunded: 'This order was refunded.',
};

/** Words for an order that ended unpaid, or undefined for `paid` and `pending_payment`. */
export function unpaidOrderWords(status) {
  return lookup(UNPAID_ORDER, status);
}

/** The studio's order list: a refund the server refused; `p` is the problem (its `retry_after_s`). */
const ORDERS = {
  order_not_refundable: () => 'This order cannot be refunded: only a paid order can be, and it is not paid (or was refunded already).',
  order_not_found: () => 'That order is not in this show any more.',
  payment_unavailable: (p) => `The payment service cannot be reached right now, so nothing was refunded. Try again${p.retry_after_s ? ` in ${p.retry_after_s} s` : ' in a moment'}.`,
};

/** Words for a refused refund (or another order call), or undefined for the server's own text. */
export function orderWords(code, problem = {}) {
  const words = lookup(ORDERS, code);
  return words ? words(problem) : undefined;
}

/**
 * A refused auction bid (an `error` frame or a problem+json answer); `p` is the problem or frame
 * (`next_minimum` Money with `bid_too_low`, `retry_after_s` / `retry_after_ms` when limited), and
 * `money` formats Money.
 */
const AUCTION = {
  bid_too_low: (p, money) => (p.next_minimum ? `Someone bid first: next is ${money(p.next_minimum)}.` : 'Someone bid first. Try the new amount.'),
  card_required: () => 'Bidding needs a saved card, so the winner can be charged at once.',
  auction_closed: () => 'This auction has ended.',
  auction_not_open: () => 'This lot has not opened yet: you can set a maximum bid now.',
  auction_not_found: () => 'This auction is no longer in the show.',
  max_below_current: () => 'Your maximum must be above your current one.',
  bidder_not_allowed: () => 'You cannot bid in this show.',
  rate_limited: (p) => {
    const s = p.retry_after_s || (p.retry_after_ms ? Math.ceil(p.retry_after_ms / 1000) : null);
    return s ? `Too many bids at once: try again in ${s} s.` : 'Too many bids at once: wait a moment.';
  },
  invalid_bid: () => 'That amount is not a valid bid.',
  wrong_currency: () => 'That bid is in another currency than the lot.',
  idempotency_key_reused: () => 'That bid was already sent. Try again.',
  offer_not_found: () => 'The offer is no longer open.',
  join_required: () => 'Pick a name to bid.',
  banned: () => 'You cannot bid in this show.',
  timed_out: () => 'A moderator timed you out for a while, so you cannot bid.',
};

/** Words for a refused bid or offer, or undefined for the server's own text. */
export function auctionWords(code, problem = {}, money = (m) => String(m && m.amount)) {
  const words = lookup(AUCTION, code);
  return words ? words(problem, money) : undefined;
}

/** Whether an `error` frame's code is one a bid can be refused with (not a chat one). */
export function isAuctionCode(code) {
  return Object.hasOwn(AUCTION, code) && !Object.hasOwn(CHAT, code);
}

/** The studio and the desk: a refused auction action (start, open, stop). */
const AUCTION_DESK = {
  auction_running: () => 'Another auction is running: stop it or wait for it to end first.',
  product_not_in_lineup: () => 'That product is not in this show\'s lineup.',
  invalid_auction: (p) => (p.detail ? `Check the auction: ${p.detail}.` : 'Check the auction\'s settings.'),
  wrong_currency: () => 'The reserve must be in the starting price\'s currency.',
  auction_closed: () => 'This auction has already ended.',
  auction_not_found: () => 'This auction is no longer in the show.',
  too_many_auctions: () => 'This show has as many auctions as it can hold.',
};

/** Words for a refused studio auction action, or undefined for the server's own text. */
export function auctionDeskWords(code, problem = {}) {
  const words = lookup(AUCTION_DESK, code);
  return words ? words(problem) : undefined;
}

/** A moderation command; `d` is the problem's detail. */
const MODERATION = {
  invalid_term: (d) => `That term cannot be blocked: ${d}.`,
  too_many_terms: (d) => `The list of blocked terms is full (${d}). Remove some first.`,
  invalid_duration: () => 'Pick a length between 10 seconds and 24 hours.',
  invalid_reason: () => 'The reason is too long: 200 characters at most.',
  viewer_not_found: () => 'That person is not a viewer of this show. The host and moderators cannot be timed out or banned.',
  forbidden_role: () => 'Your role is not allowed to do that.',
  not_held: () => 'Another moderator already reviewed that message.',
  message_not_found: () => 'That message is no longer in the recent chat.',
  show_not_found: () => 'This show no longer exists.',
  rate_limited: () => 'Too many actions at once. Wait a moment and try again.',
};

/** Chat codes a moderation command (`mod.chat`) can be refused with: the chat's own words. */
const MODERATION_CHAT = new Set(['message_too_long', 'empty_message', 'forbidden_characters']);

/** Words for a refused moderation command, or undefined for the API's own message. */
export function moderationWords(code, detail) {
  const words = lookup(MODERATION, code);
  if (words) return words(detail);
  if (MODERATION_CHAT.has(code)) return chatErrorText({ code, message: detail });
  return undefined;
}

/** Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes"). */
const FINAL_CLOSE = {
  [Close.UNSUPPORTED_DATA]: 'The page sent something the server does not accept.',
  [Close.TOO_BIG]: 'The page sent a message that is too large.',
  [Close.INVALID_TOKEN]: 'Your session is no longer valid. Reload the page to continue.',
  [Close.FORBIDDEN]: 'You cannot join this show.',
  [Close.SHOW_NOT_FOUND]: 'This show does not exist.',
  [Close.BAD_VERSION]: 'This page is out of date. Reload it.',
};

/** The words for a final close code, or undefined when the room should reconnect. */
export function finalCloseWords(code) {
  return lookup(FINAL_CLOSE, code);
}

/** The moderator desk's words for a token the server no longer accepts (HTTP 401, close 4001). */
export const DESK_INVALID_INVITE = 'Your invite is no longer valid. Ask the host for a new moderator link.';

/** The same final close codes as the moderator desk says them (it closes its gate on them). */
const DESK_CLOSE = {
  [Close.INVALID_TOKEN]: DESK_INVALID_INVITE,
  [Close.FORBIDDEN]: 'This invite is for another show, or you cannot join this one.',
  [Close.SHOW_NOT_FOUND]: 'This show no longer exists.',
};

/** The desk's words for a final close code, or undefined. */
export function deskCloseWords(code) {
  return lookup(DESK_CLOSE, code);
}

/** Opening the camera (a getUserMedia error's `name`), as the studio says it for this computer. */
const COMPUTER_CAMERA = {
  NotAllowedError: 'Camera access was denied. Allow the camera and microphone for this site in the browser (the icon in the address bar), then try again.',
  NotFoundError: 'No camera was found on this computer.',
  NotReadableError: 'The camera is in use by another app. Close it and try again.',
  SecurityError: 'The browser blocked the camera: the page needs a secure (https) address. Start livesale with --tls-self-signed.',
};

/** The studio's error for a camera that did not open: an Error in words, or `e` itself. */
export function computerCameraError(e) {
  const words = lookup(COMPUTER_CAMERA, e && e.name);
  return words ? new Error(words) : e;
}

/** The phone camera page: what the browser needs for the camera at all. */
export const INSECURE_CAMERA = 'The browser only opens the camera on a secure (https) address, and this page was '
  + 'opened over plain http. Ask whoever runs the show to start livesale with --tls-self-signed '
  + '(or behind HTTPS) and open the https:// camera link; accept the certificate warning once.';

const DENIED = 'Camera access was denied. Allow the camera (and microphone) for this site in the '
  + "browser's settings (the icon next to the address), then press Start again.";
const NOT_FOUND = 'No camera was found on this device.';
const BUSY = 'The camera is busy: another app (a video call, the camera app) is using it. Close it and press Start again.';

/** Opening the camera, as the phone camera page says it (older browsers' names included). */
const PHONE_CAMERA = {
  NotAllowedError: DENIED,
  PermissionDeniedError: DENIED,
  NotFoundError: NOT_FOUND,
  DevicesNotFoundError: NOT_FOUND,
  NotReadableError: BUSY,
  TrackStartError: BUSY,
  OverconstrainedError: 'This device has no camera facing that way. Choose the other camera.',
  SecurityError: INSECURE_CAMERA,
  AbortError: 'The camera did not start. Press Start to try again.',
};

/** The phone page's words for a camera that did not open. */
export function phoneCameraWords(e) {
  return lookup(PHONE_CAMERA, e && e.name) || (e && e.message) || 'The camera could not start.';
}
