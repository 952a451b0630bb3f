// What an auction lot says to people, shared by the viewer's card (auctioncard.js) and the
// studio's and moderator desk's auction panel (auctiondesk.js). A lot is the server's auction
// view (API.md, "Auctions"): `id, product_id, status, current, leader {viewer_id, name}, bids,
// ends_at, next_minimum, winner`. Pure: times come in as arguments (the server's clock, see
// intime.js's ServerClock), so node's unit tests can drive it.

import { formatMoney } from '../api.js';
import { clock } from '../dom.js';
import { AuctionStatus, AuctionResult } from '../protocol.js';
import { secondsLeft } from './deals.js';

const RANK = { [AuctionStatus.SCHEDULED]: 0, [AuctionStatus.OPEN]: 1, [AuctionStatus.CLOSED]: 2 };

/**
 * Whether lot view `next` may replace `known` (the same lot): room messages and bid answers can
 * cross on the way, so an older view (an earlier status, fewer accepted bids) never overwrites a
 * newer one. A different lot always replaces it.
 */
export function newerAuction(next, known) {
  if (!next) return false;
  if (!known || next.id !== known.id) return true;
  const a = RANK[next.status] ?? 0;
  const b = RANK[known.status] ?? 0;
  if (a !== b) return a > b;
  return (next.bids || 0) >= (known.bids || 0);
}

/**
 * How a closed lot ended: `result` from `auction.ended` when known, else read from the view
 * (a winner: sold; accepted bids but no winner: the reserve was not met; no bids: unsold).
 */
export function resultOf(auction, result = null) {
  if (result) return result;
  if (!auction || auction.status !== AuctionStatus.CLOSED) return null;
  if (auction.winner) return AuctionResult.SOLD;
  return auction.bids > 0 ? AuctionResult.RESERVE_NOT_MET : AuctionResult.UNSOLD;
}

/** "Sold to Dana for $42.00" / "Not sold (reserve not met)" / "No bids: not sold". */
export function resultText(auction, result = null) {
  switch (resultOf(auction, result)) {
    case AuctionResult.SOLD: {
      const who = (auction.winner && auction.winner.name) || 'the winner';
      return `Sold to ${who} for ${formatMoney(auction.current)}`;
    }
    case AuctionResult.RESERVE_NOT_MET: return 'Not sold (reserve not met)';
    case AuctionResult.UNSOLD: return 'No bids: not sold';
    default: return '';
  }
}

/** Seconds until the lot's end on the server's clock `nowMs` (null for a lot without an end). */
export function auctionSecondsLeft(auction, nowMs) {
  if (!auction || !auction.ends_at) return null;
  return secondsLeft(auction.ends_at, nowMs);
}

/** The countdown's words: "Ends in 0:42", "Starts soon", "Ended", "Closing…". */
export function countdownText(auction, nowMs) {
  if (!auction) return '';
  if (auction.status === AuctionStatus.SCHEDULED) return 'Opens soon';
  if (auction.status === AuctionStatus.CLOSED) return 'Ended';
  const left = auctionSecondsLeft(auction, nowMs);
  if (left === null) return '';
  // Past the end the server is closing it (its message follows); never "0:00" forever.
  return left > 0 ? `Ends in ${clock(Math.ceil(left))}` : 'Closing…';
}

/** The current price line: "$32.00 · Dana" or "Starts at $10.00". */
export function priceLine(auction) {
  if (!auction) return '';
  if (!auction.current) return `Starts at ${formatMoney(auction.next_minimum)}`;
  return formatMoney(auction.current);
}

/** A lot's status as one word for the desk: "Scheduled", "Open", "Closed". */
export function statusWord(auction) {
  return { scheduled: 'Scheduled', open: 'Open', closed: 'Closed' }[auction && auction.status] || '';
}

/** A log entry's time of receipt on the server, as "21:04:05.123" (local time). */
export function logTime(ms) {
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}
