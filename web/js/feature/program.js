// The viewer's program video (docs/viewer.md, "Playback"): WebRTC (WHEP) first, kept playing
// by a Keeper that replaces a lost session; LL-HLS (feature/hls.js) when the node answers WHEP
// with 503 (full), when WebRTC fails (ICE fails, or no picture within NO_MEDIA_MS while a camera
// is on air), or when the operator asks (`--viewer-playback hls`, the page's `data-playback`) or
// the viewer does (`?hls=1`). Once on LL-HLS the page stays there. It counts presented frames
// for the page's hooks, keeps the "Live" badge (seconds behind live over LL-HLS), answers where
// the picture is on the server's clock (`playhead()`, for feature/intime.js), and owns the
// tap-to-unmute button. A guest without a name plays WebRTC with a silent "Guest" viewer token
// kept per show, because the server lets viewers (not guests) play the program over WHEP.

import { api, store, deviceId } from '../api.js';
import { h, fill } from '../dom.js';
import { whepPlay, Keeper } from '../media.js';
import { ShowStatus } from '../protocol.js';
import { hlsPlayer, badgeText, playbackMode } from './hls.js';

/** A WebRTC session that shows no picture this long, while a camera is on air, has failed. */
export const NO_MEDIA_MS = 6000;

/** What a WebRTC viewer's picture trails the server's clock by when its stats say nothing. */
const WEBRTC_DELAY_MS = 150;

/**
 * The program video of `S` (the page state: `token`, `status`, `playing`, `program`) in
 * `video`, with its `unmute` button and `badge`; `render()` redraws the stage when playing
 * starts or stops; `clock` is the server's clock (feature/intime.js). Returns
 * `{start, stop, stats, keeper, playhead}`; `stats` is `{state, error, frames, mode, engine,
 * reason, words, behind_s}` (a page hook, docs/web-hooks.md).
 */
export function programVideo({ showId, S, video, unmute, badge, watchKey, render, playback, hlsSrc, clock }) {
  const first = playbackMode(location.search, playback);
  const stats = {
    state: 'idle', error: null, frames: 0, mode: first === 'hls' ? 'hls' : 'webrtc', engine: null,
    reason: first === 'hls' ? 'asked' : null, words: null, behind_s: null,
  };
  let keeper = null;
  let hls = null;
  let started = false;
  let noMedia = null;
  let webrtcDelayMs = WEBRTC_DELAY_MS;
  let watchTokenPromise = null;

  /** A viewer token for WHEP: the named one, else a silent "Guest" identity kept per show. */
  function watchToken() {
    if (S.token) return Promise.resolve(S.token);
    const kept = store.get(watchKey);
    if (kept) return Promise.resolve(kept);
    if (!watchTokenPromise) {
      watchTokenPromise = api('POST', `/api/shows/${showId}/viewers`, { body: { display_name: 'Guest', device_id: deviceId() } })
        .then((r) => { store.set(watchKey, r.token); return r.token; })
        .finally(() => { watchTokenPromise = null; });
    }
    return watchTokenPromise;
  }

  function onchange({ state, error }) {
    stats.state = state;
    if (error) {
      stats.error = error.message;
      console.warn('video', error);
      if (error.status === 503 && first === 'auto') {
        toHls('node_full');
        return;
      }
      if (error.status === 401 && !S.token) {
        // The silent watch token is no longer valid: get a fresh one and start again.
        store.set(watchKey, null);
        setTimeout(() => { stop(); if (S.status === ShowStatus.LIVE) start(); }, 1000);
      }
    }
    if (state === 'failed' && first === 'auto') {
      toHls('webrtc_failed');
      return;
    }
    if (state === 'failed' || state === 'reconnecting' || state === 'error') { S.playing = false; render(); }
  }

  /** WebRTC that connected but shows nothing while a camera is on air is as good as failed. */
  function armNoMedia() {
    clearInterval(noMedia);
    if (first !== 'auto') return;
    let since = performance.now();
    let seen = stats.frames;
    noMedia = setInterval(() => {
      if (stats.mode !== 'webrtc') { clearInterval(noMedia); return; }
      // Nothing on air (or not live): no picture is expected; the wait starts again.
      if (stats.frames !== seen || S.program === null || S.status !== ShowStatus.LIVE || document.hidden) {
        seen = stats.frames;
        since = performance.now();
        return;
      }
      if (performance.now() - since >= NO_MEDIA_MS) toHls('no_media');
    }, 500);
  }

  function toHls(reason) {
    if (stats.mode === 'hls') return;
    console.info(`video: LL-HLS instead of WebRTC (${reason})`);
    stats.mode = 'hls';
    stats.reason = reason;
    clearInterval(noMedia);
    stopWebrtc();
    video.srcObject = null;
    S.playing = false;
    render();
    if (started) startHls();
  }

  /** Ends the WebRTC player, if it runs. */
  function stopWebrtc() {
    if (!keeper) return;
    const k = keeper;
    keeper = null;
    k.stop();
    video.srcObject = null;
  }

  function startHls() {
    if (hls) return;
    hls = hlsPlayer({
      showId,
      video,
      hlsSrc,
      serverNow: () => clock.now(),
      onchange: ({ state, words, engine }) => {
        stats.state = state;
        stats.engine = engine;
        stats.words = words || null;
        if (state === 'waiting' || state === 'refused') { S.playing = false; S.videoWords = words; render(); }
        if (state === 'attached') { S.videoWords = null; render(); }
      },
    });
    hls.start();
  }

  function start() {
    started = true;
    if (stats.mode === 'hls') { startHls(); return; }
    if (keeper) return;
    keeper = new Keeper(async () => whepPlay({ showId, token: await watchToken(), video }), onchange);
    keeper.run();
    armNoMedia();
  }

  function stop() {
    started = false;
    clearInterval(noMedia);
    if (hls) {
      hls.stop();
      hls = null;
    }
    stopWebrtc();
    S.playing = false;
    S.videoWords = null;
  }

  /**
   * The server time (Unix ms) of the picture on screen: LL-HLS's program date of the frame
   * playing; WebRTC's is the server's clock less its small delay. With no picture, the server's
   * clock (nothing on screen to keep in step with).
   */
  function playhead() {
    if (stats.mode === 'hls' && hls && S.playing) return hls.playhead();
    return clock.now() - (stats.mode === 'webrtc' && S.playing ? webrtcDelayMs : 0);
  }

  /** The WebRTC delay from the receiver's stats: jitter buffer plus half the round trip. */
  async function measureDelay() {
    const pc = keeper && keeper.session && keeper.session.pc;
    if (!pc) return;
    try {
      const report = await pc.getStats();
      let buffer = null;
      let rtt = null;
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video' && s.jitterBufferEmittedCount) {
          buffer = (s.jitterBufferDelay / s.jitterBufferEmittedCount) * 1000;
        }
        if (s.type === 'candidate-pair' && s.nominated && typeof s.currentRoundTripTime === 'number') {
          rtt = s.currentRoundTripTime * 1000;
        }
      });
      if (buffer !== null) webrtcDelayMs = Math.min(2000, Math.max(0, buffer + (rtt ?? 0) / 2 + 30));
    } catch { /* closed meanwhile */ }
  }

  function renderBadge() {
    if (!badge) return;
    const live = S.status === ShowStatus.LIVE && S.playing;
    badge.hidden = !live;
    badge.dataset.mode = stats.mode;
    const behind = stats.mode === 'hls' && hls ? hls.latency() : null;
    stats.behind_s = behind === null ? null : Math.round(behind * 10) / 10;
    badge.dataset.behindMs = behind === null ? '' : String(Math.round(behind * 1000));
    const text = badgeText(stats.mode, behind);
    if (badge.textContent !== text) fill(badge, text);
  }

  setInterval(() => { renderBadge(); if (stats.mode === 'webrtc') measureDelay(); }, 1000);
  video.addEventListener('playing', () => { S.playing = true; S.videoWords = null; render(); renderBadge(); });
  video.addEventListener('waiting', () => { /* a short stall keeps the last frame */ });
  video.addEventListener('emptied', () => { S.playing = false; render(); renderBadge(); });
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    const count = () => { stats.frames += 1; video.requestVideoFrameCallback(count); };
    video.requestVideoFrameCallback(count);
  }
  bindUnmute(video, unmute);

  return {
    start, stop, stats, playhead, get keeper() { return keeper; }, get hls() { return hls; },
  };
}

/** A small speaker icon (SVG through the DOM, never markup strings). */
function speaker(muted) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '20');
  svg.setAttribute('height', '20');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const body = document.createElementNS(NS, 'path');
  body.setAttribute('d', 'M3 9h4l5-4v14l-5-4H3z');
  body.setAttribute('fill', 'currentColor');
  const extra = document.createElementNS(NS, 'path');
  extra.setAttribute('d', muted ? 'M15.5 9l5 6M20.5 9l-5 6' : 'M15.5 8.5a5 5 0 0 1 0 7M18 6a8.5 8.5 0 0 1 0 12');
  extra.setAttribute('fill', 'none');
  extra.setAttribute('stroke', 'currentColor');
  extra.setAttribute('stroke-width', '2');
  extra.setAttribute('stroke-linecap', 'round');
  svg.append(body, extra);
  return svg;
}

/** The tap-to-unmute button: its icon and words follow the video's muted state. */
function bindUnmute(video, button) {
  const render = () => {
    const muted = video.muted;
    button.classList.toggle('is-muted', muted);
    button.setAttribute('aria-pressed', String(!muted));
    fill(button, speaker(muted), h('span', { class: 'unmute-label' }, muted ? 'Tap to unmute' : 'Mute'));
  };
  button.addEventListener('click', () => {
    video.muted = !video.muted;
    if (!video.muted) video.play().catch(() => {});
    render();
  });
  video.addEventListener('volumechange', render);
  render();
}
