// Commerce in step with the picture (docs/protocol.md, "pts"). Room events that a viewer must
// see when the host says them on their screen (`pin.updated`, `purchase`, `program.changed`;
// deal countdowns start and end with `pin.updated`) carry `pts`, the server's wall clock (Unix
// ms) when they happened. A page whose picture runs behind live (LL-HLS: seconds; WebRTC: a
// fraction of one) holds such an event until its playhead (the server time of the frame on
// screen) reaches `pts`, then applies it; events are released in the order they came, never
// one before an earlier one. Chat, presence and the buyer's own order are never held, and
// neither is checkout: the server answers it with its current truth.
//
// Pure: the clocks come in as functions, so node's tests drive it (tests/browser/units.mjs).

/** How long an event may wait when the playhead is unknown or stuck (a stalled player). */
export const MAX_HOLD_MS = 15000;

/**
 * The server's clock as this page sees it: `sync(serverMs, localMs)` with the server's time
 * (`welcome.now_ms`) and the local time it arrived; `now()` is then the server's time. The
 * offset leans to the earliest arrival seen (the one least delayed on the way).
 */
export class ServerClock {
  constructor(localNow = () => Date.now()) {
    this.localNow = localNow;
    this.offset = null;
  }

  sync(serverMs, localMs = this.localNow()) {
    if (typeof serverMs !== 'number' || !Number.isFinite(serverMs)) return;
    const offset = serverMs - localMs;
    // A later welcome that was slower on the way says the server is behind; keep the best
    // estimate, but follow a clock that moved (more than 2 s) either way.
    if (this.offset === null || offset > this.offset || this.offset - offset > 2000) this.offset = offset;
  }

  get known() {
    return this.offset !== null;
  }

  /** The server's wall clock now (the local clock until a welcome said otherwise). */
  now() {
    return this.localNow() + (this.offset ?? 0);
  }
}

/**
 * Holds frames with `pts` until `playhead()` (server ms of the picture on screen, or null when
 * unknown) reaches them. `offer(frame, apply)` applies at once (returns false) or holds
 * (returns true); `release()` applies what is due, in order, and returns how many; `clear()`
 * drops what waits (a fresh welcome replaced it). An event held longer than `maxHoldMs` of the
 * local clock is applied anyway, so a stuck player never hides the shop for good.
 */
export class InTime {
  constructor({ playhead, localNow = () => Date.now(), maxHoldMs = MAX_HOLD_MS } = {}) {
    this.playhead = playhead || (() => null);
    this.localNow = localNow;
    this.maxHoldMs = maxHoldMs;
    this.queue = [];
    this.released = [];
  }

  get pending() {
    return this.queue.length;
  }

  offer(frame, apply) {
    // A frame without pts (a server before pts) is due at once, but still waits its turn.
    const pts = frame && typeof frame.pts === 'number' ? frame.pts : -Infinity;
    const entry = { frame, apply, pts, since: this.localNow() };
    this.queue.push(entry);
    this.release();
    return this.queue.includes(entry);
  }

  due(pts) {
    if (pts === -Infinity) return true;
    const at = this.playhead();
    return typeof at === 'number' && Number.isFinite(at) && at >= pts;
  }

  release() {
    let n = 0;
    while (this.queue.length) {
      const head = this.queue[0];
      const overdue = this.localNow() - head.since >= this.maxHoldMs;
      if (!overdue && !this.due(head.pts)) break;
      this.queue.shift();
      this.apply(head.frame, head.apply);
      n += 1;
    }
    return n;
  }

  apply(frame, apply) {
    // What was released and when, on both clocks: the page's test hook reads it.
    if (frame && typeof frame.pts === 'number') {
      this.released.push({ type: frame.type, seq: frame.seq, pts: frame.pts, playhead: this.playhead(), at: this.localNow() });
      if (this.released.length > 200) this.released.shift();
    }
    try { apply(frame); } catch (e) { console.error(`in-time handler for ${frame && frame.type}`, e); }
  }

  clear() {
    this.queue = [];
  }
}
