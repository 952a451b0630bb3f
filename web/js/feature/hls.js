// The viewer's LL-HLS player (docs/viewer.md): the show's program as Low-Latency HLS from
// `/api/shows/{id}/hls/live.m3u8`, for crowds a CDN carries. hls.js (vendored in
// web/vendor/hls/, served by livesale, loaded only when a page needs it) with `lowLatencyMode`
// where Media Source Extensions exist, else the browser's own HLS (Safari). Before the player
// gets the playlist, the page asks for it itself, so an answer that is not a playlist is said
// in words: 404 `hls_not_started` (asked again after its Retry-After), 409
// `program_not_packageable` (the cameras send VP8), 404 `hls_disabled`. While playing, the
// player stays near live: past `CATCH_UP_S` behind its target latency it jumps to the live
// edge (hls.js also plays slightly faster to close smaller gaps).

/**
 * Seconds behind the target latency after which the player jumps to the live edge. Less than
 * this, hls.js closes the gap by playing up to 10 % faster (no skipped picture: a viewer a few
 * seconds behind still sees every pin and cut, in step); more (a tab that was in the
 * background, a long stall), a jump is better than minutes of fast playback.
 */
export const CATCH_UP_S = 3;

/**
 * How the page starts: `hls` when the viewer asked (`?hls=1`) or the server says so
 * (`playback` = `hls`), `webrtc` when the server allows nothing else, else `auto` (WebRTC,
 * falling back to LL-HLS).
 */
export function playbackMode(search, playback) {
  const asked = new URLSearchParams(search).get('hls');
  if (asked === '1' || asked === 'true') return 'hls';
  if (playback === 'hls' || playback === 'webrtc') return playback;
  return 'auto';
}

/** What the page says for a playlist that did not come, by the problem's code. */
export function hlsProblemWords(code, detail) {
  switch (code) {
    case 'hls_not_started': return 'The stream is starting. The picture appears as soon as a camera is on air.';
    case 'program_not_packageable': return `This show can’t be streamed to large audiences: ${detail || 'its cameras send VP8, and the stream needs H.264'}.`;
    case 'hls_disabled': return 'This server does not offer the stream for large audiences.';
    case 'not_found': return 'This show has no stream.';
    default: return 'The stream could not be loaded. Retrying…';
  }
}

/** Whether the page should ask for the playlist again after this problem. */
export function hlsRetries(code) {
  return code !== 'program_not_packageable' && code !== 'hls_disabled' && code !== 'not_found';
}

/**
 * The seconds the picture is behind live: `serverNowMs` minus the server time of the frame on
 * screen (`playheadMs`), never below zero; null when either is unknown.
 */
export function behindSeconds(serverNowMs, playheadMs) {
  if (typeof playheadMs !== 'number' || !Number.isFinite(playheadMs)) return null;
  return Math.max(0, (serverNowMs - playheadMs) / 1000);
}

/** The badge's words: "Live · 3 s" behind live over LL-HLS, "Live" over WebRTC. */
export function badgeText(mode, behindS) {
  if (mode !== 'hls' || behindS === null || behindS === undefined) return 'Live';
  return `Live · ${Math.round(behindS)} s`;
}

/**
 * Whether a player `latencyS` behind live with a target of `targetS` should jump to the live
 * edge (more than `CATCH_UP_S` late).
 */
export function shouldCatchUp(latencyS, targetS) {
  if (typeof latencyS !== 'number' || typeof targetS !== 'number') return false;
  return latencyS - targetS > CATCH_UP_S;
}

/** The first step of a playlist request: ok, or the problem's code, words and retry delay. */
async function probe(url) {
  let res;
  try {
    res = await fetch(url, { cache: 'no-store' });
  } catch {
    return { ok: false, code: 'network', words: 'The server could not be reached. Retrying…', retryMs: 2000 };
  }
  if (res.ok) {
    await res.body?.cancel().catch(() => {});
    return { ok: true };
  }
  let problem = {};
  try { problem = await res.json(); } catch { /* not problem+json */ }
  const code = problem.code || `http_${res.status}`;
  const after = Number(res.headers.get('retry-after'));
  return {
    ok: false,
    status: res.status,
    code,
    words: hlsProblemWords(code, problem.detail),
    retryMs: hlsRetries(code) ? Math.max(1000, (Number.isFinite(after) && after > 0 ? after : 1) * 1000) : null,
  };
}

/**
 * An LL-HLS player of show `showId` in `video`. `hlsSrc` is the vendored hls.js module's URL;
 * `onchange({state, words, engine})` reports `loading`, `waiting` (a problem in `words`, asked
 * again later), `refused` (a problem that waiting does not fix), `playing`. Returns
 * `{start(), stop(), playhead(), latency(), stats}`: `playhead()` is the server time (Unix ms)
 * of the frame on screen (`EXT-X-PROGRAM-DATE-TIME`), or null.
 */
export function hlsPlayer({ showId, video, hlsSrc, serverNow, onchange = () => {} }) {
  const url = `/api/shows/${showId}/hls/live.m3u8`;
  const stats = { engine: null, catchUps: 0, fatal: 0, problem: null };
  let hls = null;
  let stopped = true;
  let timer = null;
  let watch = null;

  function report(state, extra = {}) {
    onchange({ state, engine: stats.engine, ...extra });
  }

  async function start() {
    if (!stopped) return;
    stopped = false;
    await attempt();
  }

  async function attempt() {
    clearTimeout(timer);
    if (stopped) return;
    report('loading');
    const first = await probe(url);
    if (stopped) return;
    if (!first.ok) {
      stats.problem = first.code;
      report(first.retryMs ? 'waiting' : 'refused', { words: first.words, code: first.code });
      if (first.retryMs) timer = setTimeout(attempt, first.retryMs);
      return;
    }
    stats.problem = null;
    try {
      await attach();
    } catch (e) {
      console.warn('hls', e);
      report('waiting', { words: 'The stream could not start. Retrying…', code: 'player' });
      teardown();
      timer = setTimeout(attempt, 3000);
    }
  }

  async function attach() {
    let Hls = null;
    try {
      ({ default: Hls } = await import(hlsSrc));
    } catch (e) {
      console.warn('hls.js did not load', e);
    }
    if (stopped) return;
    if (Hls && Hls.isSupported()) {
      stats.engine = 'hls.js';
      hls = new Hls({
        lowLatencyMode: true,
        // The page's CSP allows scripts from this origin only (no blob: workers); fMP4 needs
        // no transmuxing, so the main thread does the little there is.
        enableWorker: false,
        backBufferLength: 30,
        // Close small gaps by playing a little faster; larger ones are jumped (catchUp).
        maxLiveSyncPlaybackRate: 1.1,
      });
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        stats.fatal += 1;
        console.warn('hls fatal', data.type, data.details);
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
          return;
        }
        // A playlist that went away (the show's stream stopped, a node restarted): ask again,
        // in words meanwhile.
        teardown();
        timer = setTimeout(attempt, 1000);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      stats.engine = 'native';
      video.src = url;
    } else {
      report('refused', { words: 'This browser cannot play the stream.', code: 'unsupported' });
      return;
    }
    video.play().catch(() => { /* autoplay refused: the page shows its play button */ });
    clearInterval(watch);
    watch = setInterval(catchUp, 1000);
    report('attached');
  }

  /** Jumps to the live edge when the picture drifted far behind its target latency. */
  function catchUp() {
    if (!hls || video.paused) return;
    if (shouldCatchUp(hls.latency, hls.targetLatency) && Number.isFinite(hls.liveSyncPosition)) {
      stats.catchUps += 1;
      video.currentTime = hls.liveSyncPosition;
    }
  }

  function playhead() {
    if (hls) {
      const d = hls.playingDate;
      return d ? d.getTime() : null;
    }
    if (stats.engine === 'native' && typeof video.getStartDate === 'function') {
      const start = video.getStartDate().getTime();
      return Number.isFinite(start) ? start + video.currentTime * 1000 : null;
    }
    return null;
  }

  /** Seconds behind live, on the server's clock. */
  function latency() {
    return behindSeconds(serverNow(), playhead());
  }

  function teardown() {
    clearInterval(watch);
    if (hls) {
      hls.destroy();
      hls = null;
    }
    if (stats.engine === 'native') {
      video.removeAttribute('src');
      video.load();
    }
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    teardown();
  }

  return {
    start,
    stop,
    playhead,
    latency,
    stats,
    get hls() { return hls; },
  };
}
