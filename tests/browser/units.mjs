// Unit tests of the pages' pure modules, in node without a browser (node --test): the wire
// vocabulary of web/js/protocol.js against docs/protocol.md, the code → words tables of
// web/js/feature/errors.js, the deal arithmetic of feature/deals.js, the order list's pure parts
// (feature/orders.js), the connection banner of feature/banner.js on a fake room and
// element, the dashboard's local times, ndjson reading and show lists (feature/dash*.js), and
// the viewer's playback choice and commerce held in step with the picture (feature/hls.js,
// feature/intime.js), the replay's timeline and state at a moment (feature/replaytime.js), and
// an auction's words and the order of its views (feature/auction.js).
// Run by tests/browser_apps/units.rs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const web = (file) => import(pathToFileURL(path.join(repo, 'web/js', file)).href);
const protocolDoc = fs.readFileSync(path.join(repo, 'docs/protocol.md'), 'utf8');

const { Frame, Command, Close, Conn } = await web('protocol.js');
const errors = await web('feature/errors.js');

test('every frame type and command of protocol.js is documented in docs/protocol.md', () => {
  for (const name of [...Object.values(Frame), ...Object.values(Command)]) {
    // Named in backquotes: alone, or before its fields (`chat.held {"message","reason"}`).
    assert.ok(new RegExp(`\`${name.replace('.', '\\.')}[\`\\s]`).test(protocolDoc), `${name} is not in docs/protocol.md`);
  }
});

test('every dotted frame or command named in docs/protocol.md is in protocol.js', () => {
  const known = new Set([...Object.values(Frame), ...Object.values(Command)]);
  const named = protocolDoc.match(/`(chat|mod|pin|show|program|reaction)\.[a-z]+/g).map((s) => s.slice(1));
  assert.ok(named.length > 20, 'the doc names the frames');
  for (const name of new Set(named)) assert.ok(known.has(name), `${name} is not in protocol.js`);
});

test('the close codes of protocol.js are those of the documented close-code table', () => {
  const table = new Set(protocolDoc.match(/^\| (\d{4}) \|/gm).map((row) => Number(row.slice(2, 6))));
  for (const [name, code] of Object.entries(Close)) {
    if (code === Close.NORMAL || code === Close.ABNORMAL) continue; // RFC 6455's own, not the server's
    assert.ok(table.has(code), `${name} = ${code} is not in docs/protocol.md`);
  }
});

test('only the close codes after which reconnecting cannot help are final', () => {
  for (const code of [1003, 1009, 4001, 4003, 4004, 4006]) {
    assert.equal(typeof errors.finalCloseWords(code), 'string', String(code));
  }
  for (const code of [1000, 1001, 1006, 1011, 4008, 4010, 4029]) {
    assert.equal(errors.finalCloseWords(code), undefined, String(code));
  }
  assert.equal(errors.deskCloseWords(Close.INVALID_TOKEN), errors.DESK_INVALID_INVITE);
  assert.equal(errors.deskCloseWords(Close.SLOW_CONSUMER), undefined);
});

test('chat error frames in words', () => {
  const text = (frame) => errors.chatErrorText(frame);
  assert.equal(text({ code: 'rate_limited', retry_after_ms: 1200 }), 'Slow down: try again in 2 s.');
  assert.equal(text({ code: 'rate_limited' }), 'Slow down a little.');
  assert.equal(text({ code: 'timed_out', message: 'for 40 s more' }), 'for 40 s more');
  assert.equal(text({ code: 'timed_out' }), 'You are timed out for a while.');
  assert.equal(text({ code: 'banned', message: 'server words' }), 'You cannot chat in this show.');
  assert.equal(text({ code: 'something_new', message: 'server words' }), 'server words');
  // A code that is a property of every object is not a row of the table.
  assert.equal(text({ code: 'constructor' }), 'That did not work. Please try again.');
});

test('shop and moderation refusals in words, the server text otherwise', () => {
  assert.equal(errors.shopWords('sold_out', { detail: 'the mug sold out' }), 'Sorry, the mug sold out.');
  assert.equal(errors.shopWords('sold_out', {}), 'Sorry, that just sold out.');
  assert.equal(errors.shopWords('no_such_code', { detail: 'x' }), undefined);
  assert.equal(errors.shopWords('toString'), undefined);
  assert.equal(errors.moderationWords('invalid_term', 'too short'), 'That term cannot be blocked: too short.');
  // Chat codes of mod.chat get the chat's words, with the server's detail where the chat uses it.
  assert.equal(errors.moderationWords('message_too_long', 'at most 200'), 'at most 200');
  assert.equal(errors.moderationWords('empty_message', ''), 'Type a message first.');
  assert.equal(errors.moderationWords('unknown_code', 'd'), undefined);
  assert.equal(errors.apiWords('network'), 'The server could not be reached. Check your connection and try again.');
  assert.equal(errors.apiWords('sold_out'), undefined);
});

test('refund refusals in words', () => {
  assert.match(errors.orderWords('order_not_refundable'), /cannot be refunded/);
  assert.equal(errors.orderWords('order_not_found'), 'That order is not in this show any more.');
  assert.match(errors.orderWords('payment_unavailable', { retry_after_s: 5 }), /nothing was refunded\. Try again in 5 s\.$/);
  assert.match(errors.orderWords('payment_unavailable'), /Try again in a moment\.$/);
  assert.equal(errors.orderWords('sold_out'), undefined);
  assert.equal(errors.orderWords('hasOwnProperty'), undefined);
});

test('the order list: status words, newest first, short ids, addresses', async () => {
  const orders = await web('feature/orders.js');
  assert.deepEqual(['paid', 'pending_payment', 'failed', 'expired', 'refunded'].map(orders.statusWords),
    ['Paid', 'Awaiting payment', 'Failed', 'Expired', 'Refunded']);
  assert.equal(orders.statusWords('on_hold'), 'on_hold', 'an unknown status as it came');
  assert.equal(orders.statusWords('constructor'), 'constructor');
  const list = [
    { id: 'b', created_at: '2025-01-01T10:00:00Z' },
    { id: 'c', created_at: '2025-01-01T11:00:00+01:00' }, // the same instant as `b`
    { id: 'a', created_at: '2025-01-01T12:00:00Z' },
  ];
  assert.deepEqual(orders.newestFirst(list).map((o) => o.id), ['a', 'c', 'b']);
  assert.deepEqual(list.map((o) => o.id), ['b', 'c', 'a'], 'the answer itself is left as it was');
  assert.deepEqual(orders.newestFirst(undefined), []);
  // Time-ordered ids of one minute differ at their end.
  assert.equal(orders.shortId('01a25018-3c7e-7a1b-9f00-a292554d2d6c'), '#554d2d6c');
  assert.deepEqual(orders.addressLines({ name: 'Ada Lovelace', line1: '12 Analytical Row', city: 'London', postal_code: 'N1 9GU', country: 'GB' }),
    ['Ada Lovelace', '12 Analytical Row', 'N1 9GU London', 'GB']);
  assert.deepEqual(orders.addressLines({ name: 'Grace', line1: '1 Main St', line2: 'Apt 2', city: 'Arlington', postal_code: '22201', country: 'US', state: 'VA' }),
    ['Grace', '1 Main St', 'Apt 2', '22201 Arlington, VA', 'US']);
  assert.deepEqual(orders.addressLines(undefined), []);
  assert.equal(orders.refundable({ status: 'paid' }), true);
  for (const status of ['pending_payment', 'failed', 'expired', 'refunded']) assert.equal(orders.refundable({ status }), false, status);
  assert.equal(orders.refundable(null), false);
});

test('camera errors in words', () => {
  assert.equal(errors.phoneCameraWords({ name: 'PermissionDeniedError' }), errors.phoneCameraWords({ name: 'NotAllowedError' }));
  assert.equal(errors.phoneCameraWords({ name: 'SecurityError' }), errors.INSECURE_CAMERA);
  assert.equal(errors.phoneCameraWords({ name: 'Weird', message: 'why' }), 'why');
  assert.equal(errors.phoneCameraWords(null), 'The camera could not start.');
  const odd = new Error('odd');
  assert.equal(errors.computerCameraError(odd), odd);
  assert.equal(errors.computerCameraError({ name: 'NotFoundError' }).message, 'No camera was found on this computer.');
});

test('deal arithmetic', async () => {
  const { dealOpen, unitsLeft, secondsLeft } = await web('feature/deals.js');
  const open = { stock_left: 7, deal: { open: true, remaining: 3, ends_at: new Date(Date.now() + 90500).toISOString() } };
  assert.equal(dealOpen(open), true);
  assert.equal(dealOpen({ deal: { open: false } }), false);
  assert.equal(dealOpen(undefined), false);
  assert.equal(unitsLeft(open), 3);
  assert.equal(unitsLeft({ ...open, stock_left: 2 }), 2);
  assert.equal(unitsLeft({ stock_left: 5, deal: { open: false, remaining: 1 } }), 5);
  const left = secondsLeft(open.deal.ends_at);
  assert.ok(left > 89 && left <= 90.5, String(left));
  assert.equal(secondsLeft(new Date(Date.now() - 5000).toISOString()), 0);
});

/** Just enough DOM for dom.js's fill() and the banner: text nodes and one element. */
function fakeDom() {
  globalThis.Node = class {};
  globalThis.document = { body: { dataset: {} }, createTextNode: (text) => ({ text }) };
  const el = {
    hidden: true,
    kids: [],
    replaceChildren() { this.kids = []; },
    appendChild(c) { this.kids.push(c); },
    get text() { return this.kids.map((k) => k.text).join(''); },
  };
  const room = { fire: null, onState(fn) { this.fire = fn; } };
  return { el, room };
}

test('the connection banner shows, hides, keeps and skips as the page words say', async () => {
  const { connectionBanner } = await web('feature/banner.js');
  const { el, room } = fakeDom();
  let gated = false;
  connectionBanner(room, el, {
    [Conn.OPEN]: () => null,
    [Conn.CONNECTING]: () => ({ text: 'Connecting…', hidden: true }),
    [Conn.RECONNECTING]: ({ inMs }) => `again in ${inMs}`,
    [Conn.CLOSED]: ({ code }) => (code === 4001 ? undefined : 'closed'),
  }, { skip: () => gated });
  room.fire({ state: Conn.CONNECTING });
  assert.deepEqual([document.body.dataset.conn, el.text, el.hidden], ['connecting', 'Connecting…', true]);
  room.fire({ state: Conn.RECONNECTING, inMs: 500 });
  assert.deepEqual([document.body.dataset.conn, el.text, el.hidden], ['reconnecting', 'again in 500', false]);
  room.fire({ state: Conn.CLOSED, code: 4001 });
  assert.deepEqual([document.body.dataset.conn, el.text, el.hidden], ['closed', 'again in 500', false], 'left as it was');
  room.fire({ state: Conn.OPEN });
  assert.deepEqual([el.text, el.hidden], ['again in 500', true], 'hidden, text kept');
  gated = true;
  room.fire({ state: Conn.CLOSED, code: 1006 });
  assert.deepEqual([document.body.dataset.conn, el.hidden], ['open', true], 'skipped entirely');
});

test('a banner that never hides empties itself instead', async () => {
  const { connectionBanner } = await web('feature/banner.js');
  const { el, room } = fakeDom();
  el.hidden = false;
  connectionBanner(room, el, { [Conn.OPEN]: () => null, [Conn.CLOSED]: ({ message }) => message || 'gone' }, { hide: false });
  room.fire({ state: Conn.CLOSED });
  assert.deepEqual([el.text, el.hidden], ['gone', false]);
  room.fire({ state: Conn.OPEN });
  assert.deepEqual([el.text, el.hidden], ['', false]);
  room.fire({ state: Conn.CONNECTING });
  assert.equal(el.text, '', 'no words for this state: left as it is');
});

// ---- feature/address.js: a card checkout's email and shipping address ----------------------

const address = await web('feature/address.js');
const GOOD = {
  email: ' dana@example.com ', name: 'Dana Levi', line1: '12 Harbour Road', line2: '  ',
  city: 'Springfield', postal_code: '12345', state: '', country: 'us',
};

test('good details become the checkout body: trimmed, optional fields left out, country upper-cased', () => {
  const r = address.checkDetails(GOOD);
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.deepEqual(r.body, {
    email: 'dana@example.com',
    shipping: { name: 'Dana Levi', line1: '12 Harbour Road', city: 'Springfield', postal_code: '12345', country: 'US' },
  });
  const full = address.checkDetails({ ...GOOD, line2: 'Flat 3', state: 'OR' });
  assert.deepEqual([full.body.shipping.line2, full.body.shipping.state], ['Flat 3', 'OR']);
});

test('missing and malformed details are refused per field, in form order', () => {
  const empty = address.checkDetails({});
  assert.equal(empty.ok, false);
  assert.deepEqual(Object.keys(empty.errors), ['email', 'name', 'line1', 'city', 'postal_code', 'country']);
  assert.equal(empty.errors.city, 'Enter your city.');
  for (const email of ['dana', 'dana@', '@example.com', 'da na@example.com', 'dana@example', 'a@b@c.de']) {
    const r = address.checkDetails({ ...GOOD, email });
    assert.deepEqual(Object.keys(r.errors || {}), ['email'], email);
  }
  for (const country of ['U', 'USA', '12', 'u1']) {
    const r = address.checkDetails({ ...GOOD, country });
    assert.deepEqual(Object.keys(r.errors || {}), ['country'], country);
  }
  const long = address.checkDetails({ ...GOOD, postal_code: '1'.repeat(21), line1: 'x'.repeat(201) });
  assert.deepEqual(Object.keys(long.errors), ['line1', 'postal_code']);
  assert.match(long.errors.postal_code, /20 characters/);
  const bidi = address.checkDetails({ ...GOOD, name: 'Dana\u202eLevi', city: 'a\nb' });
  assert.deepEqual(Object.keys(bidi.errors), ['name', 'city']);
  // Not Latin is fine.
  assert.equal(address.checkDetails({ ...GOOD, name: 'דנה לוי', city: 'תל אביב' }).ok, true);
});

test('a server refusal is traced back to the field its detail names', () => {
  assert.equal(address.fieldOfProblem('invalid_email', 'email must look like name@example.com'), 'email');
  assert.equal(address.fieldOfProblem('invalid_shipping', 'shipping.postal_code must not be empty'), 'postal_code');
  assert.equal(address.fieldOfProblem('invalid_shipping', 'shipping.country must be an ISO code'), 'country');
  assert.equal(address.fieldOfProblem('invalid_shipping', 'shipping.constructor is odd'), null);
  assert.equal(address.fieldOfProblem('invalid_shipping', 'no field named'), null);
  assert.equal(address.fieldOfProblem('sold_out', 'shipping.city'), null);
});

test('the details are remembered for next time, and bad storage recalls nothing', () => {
  const kept = new Map();
  const storage = { get: (k) => kept.get(k) ?? null, set: (k, v) => kept.set(k, v) };
  assert.deepEqual(address.recallDetails(storage), {});
  const body = address.checkDetails({ ...GOOD, line2: 'Flat 3' }).body;
  address.rememberDetails(storage, body);
  assert.deepEqual(address.recallDetails(storage), {
    email: 'dana@example.com', name: 'Dana Levi', line1: '12 Harbour Road', line2: 'Flat 3',
    city: 'Springfield', postal_code: '12345', country: 'US',
  });
  // What comes back is checked again like anything typed.
  assert.equal(address.checkDetails(address.recallDetails(storage)).ok, true);
  for (const raw of ['{not json', 'null', '42', '{"email":7,"city":"X","__proto__":{"x":1}}']) {
    const bad = { get: () => raw, set: () => {} };
    const r = address.recallDetails(bad);
    assert.equal(typeof r, 'object', raw);
    assert.equal(r.email, undefined, raw);
  }
});

test('a checkout answered with a settled failure gets a new idempotency key, any other keeps it', async () => {
  const { ApiError, settledFailure } = await web('api.js');
  assert.equal(settledFailure(new ApiError(409, 'sold_out', '')), true);
  assert.equal(settledFailure(new ApiError(402, 'payment_declined', '')), true);
  assert.equal(settledFailure(new ApiError(503, 'payment_unavailable', '')), true, 'the server released that order');
  assert.equal(settledFailure(new ApiError(503, 'store_unavailable', '')), false, 'maybe placed: retry with the key');
  assert.equal(settledFailure(new ApiError(0, 'network', '')), false, 'no answer: retry with the key');
  assert.equal(settledFailure(new ApiError(500, 'internal', '')), false);
});

test('saved cards and card refusals in words', () => {
  assert.equal(address.cardName({ brand: 'visa', last4: '4242' }), 'Visa •••• 4242');
  assert.equal(address.cardName({ brand: 'amex', last4: '0005' }), 'American Express •••• 0005');
  assert.equal(address.cardName({ brand: 'newbrand', last4: '1111' }), 'newbrand •••• 1111');
  assert.equal(address.cardName({}), 'Card •••• ????');
  assert.match(errors.cardWords('payment_declined'), /declined.*nothing was charged.*another card/i);
  assert.match(errors.cardWords('order_not_pending'), /reservation lapsed/);
  assert.match(errors.cardWords('payment_unavailable', { retry_after_s: 5 }), /in 5 s\.$/);
  assert.equal(errors.cardWords('sold_out', {}), errors.shopWords('sold_out', {}), 'the cart\'s words otherwise');
  assert.equal(errors.cardWords('valueOf'), undefined);
  assert.match(errors.unpaidOrderWords('expired'), /went back on sale/);
  assert.equal(errors.unpaidOrderWords('paid'), undefined);
});

// ---- the dashboard (feature/dashutil.js, feature/dashshows.js) --------------------------------

const dashutil = await web('feature/dashutil.js');
const dashshows = await web('feature/dashshows.js');

test('a typed local time goes out as RFC 3339 with the offset of that moment', () => {
  for (const typed of ['2027-03-05T19:30', '2027-07-05T08:05', '2026-12-31T23:59']) {
    const sent = dashutil.rfc3339Local(typed);
    assert.match(sent, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00[+-]\d{2}:\d{2}$/, sent);
    assert.ok(sent.startsWith(`${typed}:00`), `${typed} → ${sent}: the wall time is kept`);
    const [y, mo, d, h, mi] = typed.split(/[-T:]/).map(Number);
    assert.equal(Date.parse(sent), new Date(y, mo - 1, d, h, mi).getTime(), 'the same instant as the local time');
    assert.equal(dashutil.localInputValue(sent), typed, 'and back into the field');
  }
  for (const bad of ['', 'tomorrow', '2027-13-05', '2027-03-05 19:30', null, undefined]) {
    assert.equal(dashutil.rfc3339Local(bad), null, String(bad));
  }
});

test('an offset is written as ±hh:mm whatever the sign', () => {
  const fake = (minutesWest) => ({
    getTimezoneOffset: () => minutesWest,
    getFullYear: () => 2027, getMonth: () => 2, getDate: () => 5, getHours: () => 19, getMinutes: () => 30, getSeconds: () => 0,
  });
  assert.equal(dashutil.rfc3339Of(fake(300)), '2027-03-05T19:30:00-05:00');
  assert.equal(dashutil.rfc3339Of(fake(-330)), '2027-03-05T19:30:00+05:30');
  assert.equal(dashutil.rfc3339Of(fake(0)), '2027-03-05T19:30:00+00:00');
  assert.equal(dashutil.rfc3339Of(fake(570)), '2027-03-05T19:30:00-09:30');
});

test('only a missing route makes the dashboard fall back, not a refusal', () => {
  assert.equal(dashutil.missingRoute({ status: 404, code: 'not_found' }), true);
  assert.equal(dashutil.missingRoute({ status: 405, code: 'method_not_allowed' }), true);
  assert.equal(dashutil.missingRoute({ status: 404, code: 'show_not_found' }), false);
  assert.equal(dashutil.missingRoute({ status: 403, code: 'forbidden' }), false);
  assert.equal(dashutil.missingRoute(null), false);
  assert.equal(dashutil.webAddress('https://cdn.example/a.jpg'), true);
  assert.equal(dashutil.webAddress('javascript:alert(1)'), false);
  assert.equal(dashutil.webAddress('/static/x.svg'), false);
});

test('an ndjson stream is read line by line, split anywhere', async () => {
  const text = '{"progress":{"done":200,"total":450}}\n{"progress":{"done":400,"total":450}}\n\n{"report":{"created":[]}}';
  const enc = new TextEncoder().encode(text);
  const chunks = [enc.slice(0, 7), enc.slice(7, 45), enc.slice(45, 46), enc.slice(46)];
  const body = new ReadableStream({ start(c) { for (const x of chunks) c.enqueue(x); c.close(); } });
  const lines = [];
  await dashutil.readNdjson({ body }, (l) => lines.push(l));
  assert.deepEqual(lines, [
    { progress: { done: 200, total: 450 } }, { progress: { done: 400, total: 450 } }, { report: { created: [] } },
  ]);
});

test('a show is upcoming, live or past by its status', () => {
  assert.equal(dashshows.whenOf({ status: 'scheduled' }), 'upcoming');
  assert.equal(dashshows.whenOf({ status: 'live' }), 'live');
  assert.equal(dashshows.whenOf({ status: 'ended' }), 'past');
  assert.equal(dashshows.whenOf({ status: 'cancelled' }), 'past');
  assert.equal(dashshows.statusWords('cancelled'), 'Cancelled');
  assert.equal(dashshows.statusWords('constructor'), 'constructor');
});

test('an ended show tells its replay stats in words', () => {
  assert.equal(dashshows.hoursMinutes(0), '0:00');
  assert.equal(dashshows.hoursMinutes(3599), '0:59');
  assert.equal(dashshows.hoursMinutes(3 * 3600 + 5 * 60 + 59), '3:05');
  const stats = { views: 1, watch_time_s: 4000, live: { units: 7 }, replay: { units: 2 } };
  assert.equal(dashshows.replayWords(stats), 'Replay: 1 view · 1:06 watched · 2 sold (live 7)');
  assert.equal(dashshows.replayWords({ ...stats, views: 12 }), 'Replay: 12 views · 1:06 watched · 2 sold (live 7)');
});

test('commerce in step with the picture: held until the playhead reaches pts, released in order', async () => {
  const { InTime, ServerClock, MAX_HOLD_MS } = await web('feature/intime.js');
  let playhead = 1000;
  let local = 50000;
  const shown = [];
  const q = new InTime({ playhead: () => playhead, localNow: () => local });
  const show = (f) => shown.push(f.seq);
  // Due already (the picture is past it): applied at once.
  assert.equal(q.offer({ type: 'pin.updated', pts: 900, seq: 1 }, show), false);
  assert.deepEqual(shown, [1]);
  // Ahead of the picture: held, and so is whatever comes after it, even if that is due.
  assert.equal(q.offer({ type: 'purchase', pts: 3000, seq: 2 }, show), true);
  assert.equal(q.offer({ type: 'pin.updated', pts: 3000, seq: 3 }, show), true);
  assert.equal(q.offer({ type: 'program.changed', pts: 5000, seq: 4 }, show), true);
  assert.equal(q.offer({ type: 'pin.updated', seq: 5 }, show), true, 'no pts: due, but after those before it');
  assert.equal(q.pending, 4);
  playhead = 2999;
  assert.equal(q.release(), 0, 'one millisecond early is early');
  assert.deepEqual(shown, [1]);
  playhead = 3000;
  assert.equal(q.release(), 2);
  assert.deepEqual(shown, [1, 2, 3]);
  playhead = 4000;
  q.release();
  assert.deepEqual(shown, [1, 2, 3]);
  playhead = 5200;
  q.release();
  assert.deepEqual(shown, [1, 2, 3, 4, 5], 'in the order they came');
  assert.equal(q.pending, 0);
  assert.deepEqual(q.released.map((r) => r.seq), [1, 2, 3, 4], 'timed releases are recorded with the playhead');
  assert.equal(q.released[3].playhead, 5200);
  // A frame without pts and nothing waiting: at once.
  assert.equal(q.offer({ type: 'pin.updated', seq: 6 }, show), false);
  // A playhead that is unknown holds, but never longer than MAX_HOLD_MS of the local clock.
  playhead = null;
  q.offer({ type: 'purchase', pts: 6000, seq: 7 }, show);
  local += MAX_HOLD_MS - 1;
  q.release();
  assert.equal(q.pending, 1);
  local += 1;
  q.release();
  assert.deepEqual(shown.slice(-1), [7]);
  // A fresh welcome replaces what waited.
  playhead = 0;
  q.offer({ type: 'purchase', pts: 9000, seq: 8 }, show);
  q.clear();
  playhead = 10000;
  q.release();
  assert.deepEqual(shown.slice(-1), [7]);
  // A handler that throws does not stop the queue.
  const errors = console.error;
  console.error = () => {};
  q.offer({ type: 'pin.updated', pts: 1, seq: 9 }, () => { throw new Error('boom'); });
  q.offer({ type: 'pin.updated', pts: 2, seq: 10 }, show);
  console.error = errors;
  assert.deepEqual(shown.slice(-1), [10]);

  // The server's clock: the offset of the least delayed welcome; a clock that moved is followed.
  let now = 1_000_000;
  const clock = new ServerClock(() => now);
  assert.equal(clock.known, false);
  assert.equal(clock.now(), now, 'the local clock until a welcome');
  clock.sync(1_005_000, 1_000_000);
  assert.equal(clock.now(), 1_005_000);
  clock.sync(1_004_500, 1_000_000); // slower on the way: keep the better one
  assert.equal(clock.now(), 1_005_000);
  clock.sync(1_001_000, 1_000_000); // 4 s less: the server's clock was set back
  assert.equal(clock.now(), 1_001_000);
  clock.sync(undefined);
  assert.equal(clock.now(), 1_001_000);
  now += 500;
  assert.equal(clock.now(), 1_001_500);
});

test('the viewer page chooses its playback, and says LL-HLS problems in words', async () => {
  const hls = await web('feature/hls.js');
  assert.equal(hls.playbackMode('?hls=1', 'auto'), 'hls');
  assert.equal(hls.playbackMode('?hls=1', 'webrtc'), 'hls', 'the viewer asked');
  assert.equal(hls.playbackMode('', 'hls'), 'hls');
  assert.equal(hls.playbackMode('', 'webrtc'), 'webrtc');
  assert.equal(hls.playbackMode('?hls=0', 'auto'), 'auto');
  assert.equal(hls.playbackMode('', undefined), 'auto');
  assert.match(hls.hlsProblemWords('program_not_packageable', 'HLS needs H.264; this show’s cameras send VP8'), /VP8/);
  assert.match(hls.hlsProblemWords('program_not_packageable'), /H\.264/);
  assert.match(hls.hlsProblemWords('hls_not_started'), /starting/);
  assert.equal(hls.hlsRetries('hls_not_started'), true);
  assert.equal(hls.hlsRetries('hls_busy'), true);
  assert.equal(hls.hlsRetries('program_not_packageable'), false);
  assert.equal(hls.hlsRetries('hls_disabled'), false);
  assert.equal(hls.badgeText('webrtc', null), 'Live');
  assert.equal(hls.badgeText('hls', 2.6), 'Live · 3 s');
  assert.equal(hls.badgeText('hls', null), 'Live');
  assert.equal(hls.behindSeconds(10_000, 7_000), 3);
  assert.equal(hls.behindSeconds(10_000, 12_000), 0, 'never ahead of live');
  assert.equal(hls.behindSeconds(10_000, null), null);
  assert.equal(hls.shouldCatchUp(4.5, 1.5), false);
  assert.equal(hls.shouldCatchUp(4.6, 1.5), true);
  assert.equal(hls.shouldCatchUp(undefined, 1.5), false);
});

test('deal countdowns count to the time they are given (the picture’s, on the viewer page)', async () => {
  const { secondsLeft } = await web('feature/deals.js');
  const ends = '2030-01-02T03:04:05Z';
  const at = Date.parse(ends);
  assert.equal(secondsLeft(ends, at - 3000), 3);
  assert.equal(secondsLeft(ends, at + 1), 0);
});

test('the replay\'s timeline: video time and the show\'s time, across an off-air hole', async () => {
  const t = await web('feature/replaytime.js');
  // Two segments of 2 s from 10:00:00.000, then a 5 s hole, then one of 1.5 s.
  const text = [
    '#EXTM3U', '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:00.000Z', '#EXTINF:2.000,', 'replay/seg-1.m4s',
    '#EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:02.000Z', '#EXTINF:2.000,', 'replay/seg-2.m4s',
    '#EXT-X-DISCONTINUITY',
    '#EXT-X-PROGRAM-DATE-TIME:2026-12-07T10:00:09.000Z', '#EXTINF:1.500,', 'replay/seg-3.m4s',
    '#EXT-X-ENDLIST', '',
  ].join('\n');
  const frags = t.parsePlaylist(text);
  assert.equal(frags.length, 3);
  const origin = t.originOf(frags);
  assert.equal(origin, Date.parse('2026-12-07T10:00:00.000Z'));
  assert.equal(t.durationOf(frags), 5.5);
  assert.equal(t.atOfTime(frags, origin, 0), 0);
  assert.equal(t.atOfTime(frags, origin, 3.25), 3250);
  // After the hole: video 4.5 s is 9.5 s into the show.
  assert.equal(t.atOfTime(frags, origin, 4.5), 9500);
  assert.equal(t.timeOfAt(frags, origin, 9500), 4.5);
  assert.equal(t.timeOfAt(frags, origin, 1200), 1.2);
  // In the hole: the next segment's start; before the start and past the end: the edges.
  assert.equal(t.timeOfAt(frags, origin, 6000), 4);
  assert.equal(t.timeOfAt(frags, origin, -500), 0);
  assert.equal(t.timeOfAt(frags, origin, 60000), 5.5);
  // hls.js's fragments map the same way.
  const same = t.fragsOf(frags.map((f) => ({ start: f.start, duration: f.duration, programDateTime: f.pdt })));
  assert.deepEqual(same, frags);
});

test('the replay at a moment: pins, camera, chat since the last clear, chapter', async () => {
  const t = await web('feature/replaytime.js');
  const mug = { product_id: 'p1', title: 'Mug', price: { amount: 900, currency: 'USD' }, stock_left: 3, deal: { price: { amount: 900, currency: 'USD' }, open: true } };
  const events = [
    { at_ms: 0, type: 'program.changed', camera: 'red' },
    { at_ms: 500, type: 'chat.message', id: 'm1', text: 'hi' },
    { at_ms: 1000, type: 'pin.updated', pins: [mug] },
    { at_ms: 1500, type: 'chat.cleared' },
    { at_ms: 2000, type: 'chat.message', id: 'm2', text: 'again' },
    { at_ms: 2500, type: 'program.changed', camera: null },
    { at_ms: 3000, type: 'pin.updated', pins: [] },
  ];
  assert.deepEqual(t.pinsAt(events, 999), []);
  assert.deepEqual(t.pinsAt(events, 1000), [mug]);
  assert.deepEqual(t.pinsAt(events, 3000), []);
  assert.equal(t.programAt(events, 100), 'red');
  assert.equal(t.programAt(events, 2600), null);
  assert.equal(t.programAt([], 100), undefined);
  assert.deepEqual(t.chatAt(events, 1400).map((m) => m.id), ['m1']);
  assert.deepEqual(t.chatAt(events, 1600).map((m) => m.id), []);
  assert.deepEqual(t.chatAt(events, 9000).map((m) => m.id), ['m2']);
  const chapters = [{ at_ms: 0 }, { at_ms: 1000 }, { at_ms: 2000 }];
  assert.equal(t.chapterAt(chapters, 1999), 1);
  assert.equal(t.chapterAt(chapters, -1), -1);
  // As pinned then, with what holds now: the deal is over, the stock and price are today's.
  const [now] = t.replayPins([mug], { p1: { price: { amount: 1800, currency: 'USD' }, stock_left: 1, deal: null, deal_ended: true } });
  assert.equal(now.dealEnded, true);
  assert.equal(now.pin.stock_left, 1);
  assert.deepEqual(now.nowPrice, { amount: 1800, currency: 'USD' });
  assert.equal(now.pin.deal.price.amount, 900, 'the deal price then is kept');
  assert.equal(t.replayPins([mug], {})[0].nowPrice, null);
  assert.ok(t.priceDiffers({ amount: 1, currency: 'USD' }, { amount: 2, currency: 'USD' }));
  assert.ok(!t.priceDiffers(null, { amount: 2, currency: 'USD' }));
  // Without a transcript: the product of the last pin chapter, from the lineup.
  const lineup = [{ id: 'p1', title: 'Mug', price: { amount: 1800, currency: 'USD' }, stock: 4 }];
  const pinChapters = [{ at_ms: 1000, kind: 'pin', product_id: 'p1' }];
  assert.deepEqual(t.pinsFromChapters(pinChapters, lineup, 500), []);
  assert.equal(t.pinsFromChapters(pinChapters, lineup, 1500)[0].stock_left, 4);
});

test('a shared clip from the query, and the time watched', async () => {
  const t = await web('feature/replaytime.js');
  assert.deepEqual(t.clipOf('?t=12.5&end=40'), { startMs: 12500, endMs: 40000 });
  assert.deepEqual(t.clipOf('?t=12.5'), { startMs: 12500, endMs: null });
  assert.deepEqual(t.clipOf('?t=12&end=3'), { startMs: 12000, endMs: null });
  assert.equal(t.clipOf('?end=3'), null);
  assert.equal(t.clipOf('?t=-1'), null);
  assert.equal(t.clipOf('?t=abc'), null);
  const m = new t.WatchMeter();
  m.tick(0, true);
  m.tick(0.25, true);
  m.tick(0.5, true);
  assert.equal(m.tick(0.75, false), 500, 'a step seen paused is not counted');
  m.tick(10, true); // resumed elsewhere: no step yet
  m.jump();
  m.tick(30, true);
  assert.equal(m.tick(31, true), 1500);
  assert.equal(m.tick(35, true, 4), 5500, 'at 4× a 4 s step is playing, not a jump');
  assert.equal(m.tick(60, true), 5500, 'a jump is not watched');
});

// ---- auctions (feature/auction.js, errors.js's auction words) ----------------------------------

test('an auction view never loses to an older one that arrives late', async () => {
  const { newerAuction } = await web('feature/auction.js');
  const lot = (status, bids, id = 'a') => ({ id, status, bids });
  assert.equal(newerAuction(lot('open', 3), null), true, 'the first one');
  assert.equal(newerAuction(lot('open', 3), lot('open', 2)), true, 'more bids');
  assert.equal(newerAuction(lot('open', 3), lot('open', 3)), true, 'as many (a max raised, a resync)');
  assert.equal(newerAuction(lot('open', 2), lot('open', 3)), false, 'fewer bids: older');
  assert.equal(newerAuction(lot('open', 9), lot('closed', 3)), false, 'a closed lot stays closed');
  assert.equal(newerAuction(lot('open', 0), lot('scheduled', 2)), true, 'opening');
  assert.equal(newerAuction(lot('scheduled', 0, 'b'), lot('closed', 5)), true, 'another lot');
  assert.equal(newerAuction(null, lot('open', 1)), false);
});

test('how a lot ended, and its countdown on the server\'s clock, in words', async () => {
  globalThis.document = globalThis.document || { documentElement: { lang: 'en' } };
  globalThis.document.documentElement = globalThis.document.documentElement || { lang: 'en' };
  const { resultOf, resultText, countdownText } = await web('feature/auction.js');
  const usd = (amount) => ({ amount, currency: 'USD' });
  const ben = { viewer_id: 'v2', name: 'Ben' };
  const sold = { id: 'a', status: 'closed', bids: 4, current: usd(1500), winner: ben, next_minimum: usd(1700) };
  assert.equal(resultText(sold), 'Sold to Ben for $15.00');
  assert.equal(resultOf({ ...sold, winner: null }), 'reserve_not_met', 'bids but no winner');
  assert.equal(resultText({ ...sold, winner: null }), 'Not sold (reserve not met)');
  assert.equal(resultText({ ...sold, winner: null, bids: 0, current: null }), 'No bids: not sold');
  assert.equal(resultText({ ...sold, winner: null }, 'unsold'), 'No bids: not sold', 'the message\'s result wins');
  assert.equal(resultOf({ ...sold, status: 'open' }), null);
  const now = Date.parse('2026-12-07T21:00:00Z');
  const open = { id: 'a', status: 'open', bids: 0, ends_at: '2026-12-07T21:01:02.300Z', next_minimum: usd(1000) };
  assert.equal(countdownText(open, now), 'Ends in 1:03', 'rounded up: never "0:00" while open');
  assert.equal(countdownText(open, now + 62200), 'Ends in 0:01');
  assert.equal(countdownText(open, now + 62300), 'Closing…', 'the server closes it at its end');
  assert.equal(countdownText({ ...open, status: 'scheduled', ends_at: null }, now), 'Opens soon');
  assert.equal(countdownText(sold, now), 'Ended');
});

test('bid refusals in words', () => {
  const money = (m) => `$${(m.amount / 100).toFixed(2)}`;
  assert.equal(errors.auctionWords('bid_too_low', { next_minimum: { amount: 1300, currency: 'USD' } }, money),
    'Someone bid first: next is $13.00.');
  assert.match(errors.auctionWords('card_required'), /saved card/);
  assert.match(errors.auctionWords('auction_closed'), /ended/);
  assert.match(errors.auctionWords('rate_limited', { retry_after_ms: 1200 }), /in 2 s/);
  assert.match(errors.auctionWords('rate_limited', { retry_after_s: 3 }), /in 3 s/);
  assert.equal(errors.auctionWords('constructor'), undefined);
  assert.equal(errors.isAuctionCode('bid_too_low'), true);
  assert.equal(errors.isAuctionCode('rate_limited'), false, 'a chat code too: only with the bid\'s key');
  assert.equal(errors.isAuctionCode('slow_mode'), false);
  assert.match(errors.auctionDeskWords('auction_running'), /Another auction is running/);
});
