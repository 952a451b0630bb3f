// The replay's timeline, pure (no DOM, no player): where a moment of the show (`at_ms`, ms since
// the recording's first program date, the unit of chapters, events and highlights) is in the
// video (`currentTime`, seconds) and back, what the room looked like at a moment (the pins, the
// camera on air, the chat), the chapter playing, the `?t=&end=` of a shared clip, and the time
// watched for the view beacons. docs/viewer.md, "Replay".
//
// Why not `currentTime * 1000`: the video's time is the segments' durations end to end, while
// `at_ms` is wall-clock time; an off-air gap or a restart is a hole in wall-clock time that the
// video skips. Every segment carries its program date (`EXT-X-PROGRAM-DATE-TIME`), so each one
// maps its own stretch of video time to its own stretch of wall-clock time.

/**
 * The segments of a VOD playlist as `{start, duration, pdt}`: `start` the video time (seconds,
 * the durations end to end, as players lay them out), `duration` its `EXTINF` (seconds), `pdt`
 * its program date (Unix ms; a segment without one follows the one before).
 */
export function parsePlaylist(text) {
  const frags = [];
  let start = 0;
  let pdt = null;
  let duration = null;
  for (const raw of String(text).split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      const t = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
      pdt = Number.isFinite(t) ? t : null;
    } else if (line.startsWith('#EXTINF:')) {
      duration = Number.parseFloat(line.slice('#EXTINF:'.length));
    } else if (line && !line.startsWith('#') && duration !== null) {
      const last = frags[frags.length - 1];
      const at = pdt ?? (last ? last.pdt + last.duration * 1000 : 0);
      frags.push({ start, duration, pdt: at });
      start += duration;
      pdt = null;
      duration = null;
    }
  }
  return frags;
}

/** hls.js's fragments (`start`, `duration`, `programDateTime`) in the same shape. */
export function fragsOf(fragments) {
  const out = [];
  for (const f of fragments || []) {
    const last = out[out.length - 1];
    const pdt = Number.isFinite(f.programDateTime) ? f.programDateTime
      : (last ? last.pdt + last.duration * 1000 : 0);
    out.push({ start: f.start, duration: f.duration, pdt });
  }
  return out;
}

/** The last index of `items` (sorted by `key`) whose key is at most `value`; -1 if none. */
export function lastAtOrBefore(items, value, key = (x) => x.at_ms) {
  let lo = 0;
  let hi = items.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (key(items[mid]) <= value) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** The `at_ms` of video time `t` (seconds), never below zero. */
export function atOfTime(frags, originMs, t) {
  if (!frags.length) return Math.max(0, Math.round(t * 1000));
  const i = Math.max(0, lastAtOrBefore(frags, t + 1e-6, (f) => f.start));
  const f = frags[i];
  const into = Math.min(Math.max(0, t - f.start), f.duration);
  return Math.max(0, Math.round(f.pdt + into * 1000 - originMs));
}

/**
 * The video time (seconds) of `atMs`: in the segment whose wall-clock stretch holds it; in a
 * hole between two segments, the start of the next one; past the end, the end.
 */
export function timeOfAt(frags, originMs, atMs) {
  if (!frags.length) return Math.max(0, atMs / 1000);
  const abs = originMs + atMs;
  const i = lastAtOrBefore(frags, abs, (f) => f.pdt);
  if (i < 0) return frags[0].start;
  const f = frags[i];
  const into = (abs - f.pdt) / 1000;
  if (into <= f.duration) return f.start + into;
  return i + 1 < frags.length ? frags[i + 1].start : f.start + f.duration;
}

/** The video's length (seconds) by its segments. */
export function durationOf(frags) {
  const f = frags[frags.length - 1];
  return f ? f.start + f.duration : 0;
}

/** The recording's origin: the first segment's program date (the server's `origin_ms`). */
export function originOf(frags) {
  return frags.length ? frags[0].pdt : 0;
}

/** The pins on screen at `atMs`: those of the last `pin.updated` at or before it. */
export function pinsAt(events, atMs) {
  for (let i = lastAtOrBefore(events, atMs); i >= 0; i -= 1) {
    if (events[i].type === 'pin.updated') return events[i].pins || [];
  }
  return [];
}

/**
 * The pins at `atMs` for a replay without its room's transcript (a show recorded before the
 * transcript was kept): the product of the last pin or deal chapter at or before it, as the
 * lineup (`products`, `GET …/lineup`) has it now. Without such a chapter, none.
 */
export function pinsFromChapters(chapters, products, atMs) {
  for (let i = lastAtOrBefore(chapters, atMs); i >= 0; i -= 1) {
    const c = chapters[i];
    if ((c.kind !== 'pin' && c.kind !== 'deal') || !c.product_id) continue;
    const p = (products || []).find((x) => x.id === c.product_id);
    if (!p) return [];
    return [{
      product_id: p.id, title: p.title, image_url: p.image_url || null, price: p.price,
      regular_price: p.price, deal: null, stock_left: p.stock,
    }];
  }
  return [];
}

/** The camera on air at `atMs` (the last `program.changed`), null off air, undefined unknown. */
export function programAt(events, atMs) {
  for (let i = lastAtOrBefore(events, atMs); i >= 0; i -= 1) {
    if (events[i].type === 'program.changed') return events[i].camera ?? null;
  }
  return undefined;
}

/** The chat as it read at `atMs`: the messages since the last clear, the newest `max`. */
export function chatAt(events, atMs, max = 150) {
  const out = [];
  for (let i = lastAtOrBefore(events, atMs); i >= 0 && out.length < max; i -= 1) {
    const e = events[i];
    if (e.type === 'chat.cleared') break;
    if (e.type === 'chat.message') out.push(e);
  }
  return out.reverse();
}

/** The index of the chapter playing at `atMs` (the last one started), -1 before the first. */
export function chapterAt(chapters, atMs) {
  return lastAtOrBefore(chapters, atMs);
}

/**
 * A shared clip from the page's query (`?t=12.5&end=40`, seconds of the replay): `{startMs,
 * endMs}` (`endMs` null without a valid end after the start), or null without a valid `t`.
 */
export function clipOf(search) {
  const q = new URLSearchParams(search);
  const seconds = (name) => {
    const raw = q.get(name);
    if (raw === null || raw.trim() === '') return null;
    const v = Number(raw);
    return Number.isFinite(v) && v >= 0 ? Math.round(v * 1000) : null;
  };
  const startMs = seconds('t');
  if (startMs === null) return null;
  const endMs = seconds('end');
  return { startMs, endMs: endMs !== null && endMs > startMs ? endMs : null };
}

/**
 * The pins as pinned then, with what holds now (`products`, the replay's current facts per
 * product): the stock now (what a buyer can still get), whether the pinned deal is over, and
 * the price a buyer pays now. Returns `[{pin, dealEnded, nowPrice}]`.
 */
export function replayPins(pins, products = {}) {
  return pins.map((p) => {
    const now = products && products[p.product_id];
    if (!now) return { pin: p, dealEnded: false, nowPrice: null };
    const dealNow = now.deal && now.deal.open && !now.deal_ended;
    return {
      pin: { ...p, stock_left: typeof now.stock_left === 'number' ? now.stock_left : p.stock_left },
      dealEnded: !!(p.deal && now.deal_ended),
      nowPrice: dealNow ? now.deal.price : (now.price || null),
    };
  });
}

/** Whether two prices differ (a "now" price worth showing). */
export function priceDiffers(a, b) {
  return !!(a && b) && (a.amount !== b.amount || a.currency !== b.currency);
}

/**
 * The time watched in one view (ms of the recording played, at any speed): each step of the
 * video's clock while it plays counts; a seek or a jump longer than `maxStepS` does not.
 */
export class WatchMeter {
  constructor(maxStepS = 2) {
    this.maxStepS = maxStepS;
    this.last = null;
    this.ms = 0;
  }

  /** The video's time now (seconds) and whether it is playing (not paused, not seeking). */
  tick(t, playing, rate = 1) {
    if (playing && this.last !== null) {
      const step = t - this.last;
      if (step > 0 && step <= this.maxStepS * Math.max(1, rate)) this.ms += step * 1000;
    }
    this.last = playing ? t : null;
    return Math.round(this.ms);
  }

  /** A seek: the next step starts from where the video lands. */
  jump() {
    this.last = null;
  }
}
