// The viewer's program video: plays what is on air over WHEP and keeps it playing (a Keeper
// replaces a lost session), counts presented frames for the page's hooks, and owns the
// tap-to-unmute button. A guest without a name plays with a silent "Guest" viewer token kept per
// show, because the server lets viewers (not guests) play the program.

import { api, store, deviceId } from '../api.js';
import { h, fill } from '../dom.js';
import { whepPlay, Keeper } from '../media.js';
import { ShowStatus } from '../protocol.js';

/**
 * The program video of `S` (the page state: `token`, `status`, `playing`) in `video`, with its
 * `unmute` button; `render()` redraws the stage when playing starts or stops.
 * Returns `{start, stop, stats, keeper}`; `stats` is `{state, error, frames}` (a page hook).
 */
export function programVideo({ showId, S, video, unmute, watchKey, render }) {
  const stats = { state: 'idle', error: null, frames: 0 };
  let keeper = null;
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
      if (error.status === 401 && !S.token) {
        // The silent watch token is no longer valid: get a fresh one and start again.
        store.set(watchKey, null);
        setTimeout(() => { stop(); if (S.status === ShowStatus.LIVE) start(); }, 1000);
      }
    }
    if (state === 'failed' || state === 'reconnecting' || state === 'error') { S.playing = false; render(); }
  }

  function start() {
    if (keeper) return;
    keeper = new Keeper(async () => whepPlay({ showId, token: await watchToken(), video }), onchange);
    keeper.run();
  }

  function stop() {
    if (!keeper) return;
    const k = keeper;
    keeper = null;
    k.stop();
    video.srcObject = null;
    S.playing = false;
  }

  video.addEventListener('playing', () => { S.playing = true; render(); });
  video.addEventListener('waiting', () => { /* a short stall keeps the last frame */ });
  video.addEventListener('emptied', () => { S.playing = false; render(); });
  if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
    const count = () => { stats.frames += 1; video.requestVideoFrameCallback(count); };
    video.requestVideoFrameCallback(count);
  }
  bindUnmute(video, unmute);

  return { start, stop, stats, get keeper() { return keeper; } };
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
