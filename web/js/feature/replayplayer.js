// The replay's player (docs/viewer.md, "Replay"): the ended show's VOD playlist
// (`/api/shows/{id}/replay.m3u8`) with the vendored hls.js where Media Source Extensions exist,
// else the browser's own HLS (Safari). The page asks for the playlist itself first, so "no
// replay" (404 `replay_not_ready`) is said in words and the timeline (feature/replaytime.js) is
// known before the first frame. hls.js's own fragments, once it has them, refine the map from
// video time to the show's time.

import { parsePlaylist, fragsOf, atOfTime, timeOfAt, durationOf, originOf } from './replaytime.js';

/** The first step: the playlist's text, or the problem's code (`replay_not_ready`, …). */
export async function fetchReplay(showId) {
  let res;
  try {
    res = await fetch(`/api/shows/${showId}/replay.m3u8`, { cache: 'no-store' });
  } catch {
    return { ok: false, code: 'network' };
  }
  if (!res.ok) {
    let problem = {};
    try { problem = await res.json(); } catch { /* not problem+json */ }
    return { ok: false, status: res.status, code: problem.code || `http_${res.status}` };
  }
  return { ok: true, text: await res.text() };
}

/**
 * A player of the playlist `text` of show `showId` in `video`, starting at `startMs` (the show's
 * time, or 0). Returns `{attach(), at(), atOf(t), timeOf(atMs), seek(atMs), origin, duration(),
 * stats}`; `stats` counts what tests check (fragments loaded, errors, stalls).
 */
export function replayPlayer({ showId, video, hlsSrc, text, startMs = 0 }) {
  const url = `/api/shows/${showId}/replay.m3u8`;
  const fromPlaylist = parsePlaylist(text);
  const origin = originOf(fromPlaylist);
  let frags = fromPlaylist;
  let hls = null;
  const stats = {
    engine: null, segments: fromPlaylist.length, loaded: [], errors: [], fatal: 0, stalls: 0,
  };

  const atOf = (t) => atOfTime(frags, origin, t);
  const timeOf = (atMs) => timeOfAt(frags, origin, atMs);

  async function attach() {
    let Hls = null;
    try {
      ({ default: Hls } = await import(hlsSrc));
    } catch (e) {
      console.warn('hls.js did not load', e);
    }
    const startAt = startMs > 0 ? timeOf(startMs) : -1;
    if (Hls && Hls.isSupported()) {
      stats.engine = 'hls.js';
      hls = new Hls({
        // The page's CSP allows scripts from this origin only (no blob: workers).
        enableWorker: false,
        lowLatencyMode: false,
        // No metadata <track> for the playlist's EXT-X-DATERANGE chapters or ID3: the page has
        // the chapters from the API, and hls.js's track loads `data:,WEBVTT`, which the page's
        // CSP (media-src 'self' blob:) refuses.
        enableDateRangeMetadataCues: false,
        enableID3MetadataCues: false,
        enableEmsgMetadataCues: false,
        startPosition: startAt,
        // A replay is short files from this server: buffer well ahead (a minute), so a cut or a
        // seek forward rarely waits.
        maxBufferLength: 60,
      });
      // hls.js lays the fragments out as it loads them (and again from their own timestamps).
      const relayout = (_, data) => {
        if (data.details && data.details.fragments.length) frags = fragsOf(data.details.fragments);
      };
      hls.on(Hls.Events.LEVEL_LOADED, relayout);
      hls.on(Hls.Events.LEVEL_PTS_UPDATED, relayout);
      hls.on(Hls.Events.FRAG_LOADED, (_, data) => {
        if (typeof data.frag.sn === 'number' && !stats.loaded.includes(data.frag.sn)) stats.loaded.push(data.frag.sn);
      });
      hls.on(Hls.Events.ERROR, (_, data) => {
        stats.errors.push({ type: data.type, details: data.details, fatal: !!data.fatal });
        if (data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) stats.stalls += 1;
        if (!data.fatal) return;
        stats.fatal += 1;
        console.warn('hls fatal', data.type, data.details);
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      return true;
    }
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      stats.engine = 'native';
      video.src = url;
      if (startAt > 0) video.addEventListener('loadedmetadata', () => { video.currentTime = startAt; }, { once: true });
      return true;
    }
    return false;
  }

  return {
    attach,
    origin,
    stats,
    atOf,
    timeOf,
    /** The show's time (`at_ms`) of the picture on screen. */
    at: () => atOf(video.currentTime || 0),
    /** Moves the picture to `atMs` of the show. */
    seek(atMs) {
      // A millisecond past it: the frame shown is the moment itself, never the one before.
      const t = timeOf(atMs) + 0.001;
      video.currentTime = Math.min(t, Math.max(0, (Number.isFinite(video.duration) ? video.duration : durationOf(frags)) - 0.05));
    },
    /** The replay's length in the show's time (ms). */
    lengthMs: () => atOf(durationOf(frags)),
    get hls() { return hls; },
  };
}
