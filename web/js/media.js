// WHIP (RFC 9725) publishing and WHEP playback with plain fetch and RTCPeerConnection.
// Non-trickle: the offer goes out with the candidates gathered in the first moments, which is
// all a browser has on a LAN or loopback; STUN/TURN servers the server advertises in `Link`
// headers are used on the next attempt (they arrive with the first answer).

import { ApiError } from './api.js';

const iceServersFromLinks = [];

/** HTTP answers to a WHIP/WHEP offer after which retrying the same offer cannot help. */
const FINAL_STATUS = [400, 401, 403, 404, 415];

/** Whether `error` (an ApiError of an offer) is final: the same attempt would fail again. */
export function isFinal(error) {
  return !!(error && error.status && FINAL_STATUS.includes(error.status));
}

function parseLinks(header) {
  if (!header) return [];
  const out = [];
  for (const part of header.split(/,(?=\s*<)/)) {
    const m = part.match(/<([^>]+)>(.*)/);
    if (!m || !/rel="?ice-server"?/.test(m[2])) continue;
    const server = { urls: m[1] };
    const user = m[2].match(/username="([^"]*)"/);
    const cred = m[2].match(/credential="([^"]*)"/);
    if (user) server.username = user[1];
    if (cred) server.credential = cred[1];
    out.push(server);
  }
  return out;
}

function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
    });
  });
}

async function exchange(pc, endpoint, token) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 1500);
  let res;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${token}` },
      body: pc.localDescription.sdp,
    });
  } catch {
    throw new ApiError(0, 'network', 'The server could not be reached. Check your connection.');
  }
  const body = await res.text();
  if (res.status !== 201) {
    let problem = {};
    try { problem = JSON.parse(body); } catch { /* not problem+json */ }
    const retry = res.headers.get('retry-after');
    if (retry) problem.retry_after_s = Number(retry);
    throw new ApiError(res.status, problem.code || `http_${res.status}`,
      problem.detail || problem.title || `The video could not start (${res.status}).`, problem);
  }
  const links = parseLinks(res.headers.get('link'));
  if (links.length) iceServersFromLinks.splice(0, iceServersFromLinks.length, ...links);
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  const location = res.headers.get('location');
  return {
    location: location ? new URL(location, res.url).href : null,
    cameraId: res.headers.get('x-camera-id'),
  };
}

/**
 * A media session: `pc`, `location`, `cameraId` (WHIP), `onstate(fn)` for the connection
 * state, and `stop()`, which DELETEs the resource (best effort) and closes.
 */
class Session {
  constructor(pc, token) {
    this.pc = pc;
    this.token = token;
    this.location = null;
    this.cameraId = null;
    this.stopped = false;
  }

  onstate(fn) {
    this.pc.addEventListener('connectionstatechange', () => fn(this.pc.connectionState));
  }

  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    const loc = this.location;
    this.pc.close();
    if (loc) {
      try {
        await fetch(loc, { method: 'DELETE', headers: { Authorization: `Bearer ${this.token}` }, keepalive: true });
      } catch { /* the server reaps it when ICE times out */ }
    }
  }
}

/** Publishes `stream` (at most one video and one audio track) as a camera of the show. */
export async function whipPublish({ showId, token, stream, label }) {
  const pc = new RTCPeerConnection({ iceServers: iceServersFromLinks, bundlePolicy: 'max-bundle' });
  const session = new Session(pc, token);
  const video = stream.getVideoTracks()[0];
  const audio = stream.getAudioTracks()[0];
  if (video) pc.addTransceiver(video, { direction: 'sendonly', streams: [stream] });
  if (audio) pc.addTransceiver(audio, { direction: 'sendonly', streams: [stream] });
  const q = label ? `?label=${encodeURIComponent(label)}` : '';
  try {
    Object.assign(session, await exchange(pc, `/api/shows/${showId}/whip${q}`, token));
  } catch (e) {
    pc.close();
    throw e;
  }
  return session;
}

/**
 * Plays the show's program (or one camera, for the studio's previews) into `video`.
 * Resolves once the answer is applied; frames follow when ICE connects.
 */
export async function whepPlay({ showId, token, video, camera }) {
  const pc = new RTCPeerConnection({ iceServers: iceServersFromLinks, bundlePolicy: 'max-bundle' });
  const session = new Session(pc, token);
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const stream = new MediaStream();
  pc.addEventListener('track', (e) => {
    stream.addTrack(e.track);
    video.srcObject = stream;
    video.play().catch(() => { /* autoplay refused: the page shows its play button */ });
  });
  const q = camera ? `?camera=${encodeURIComponent(camera)}` : '';
  try {
    Object.assign(session, await exchange(pc, `/api/shows/${showId}/whep${q}`, token));
  } catch (e) {
    pc.close();
    throw e;
  }
  return session;
}

/**
 * Keeps a session alive: `start()` makes one; when it fails, closes or stays disconnected for a
 * few seconds it is replaced, with backoff. `onchange({state, session, error})` reports what
 * happens. The connection is watched through its events and, as a safety net, polled: a
 * connection can end without any event (RTCPeerConnection.close(), a browser tearing it down),
 * and an ICE failure can show in iceConnectionState before connectionState follows.
 */
export class Keeper {
  constructor(start, onchange = () => {}) {
    this.start = start;
    this.onchange = onchange;
    this.session = null;
    this.attempt = 0;
    this.stopped = false;
  }

  async run() {
    if (this.stopped) return;
    this.onchange({ state: this.attempt ? 'reconnecting' : 'connecting' });
    try {
      const session = await this.start();
      if (this.stopped) { session.stop(); return; }
      this.session = session;
      this.watch(session);
    } catch (error) {
      this.onchange({ state: 'error', error });
      if (isFinal(error)) return; // retrying won't help
      this.retry(error.retryAfter ? error.retryAfter * 1000 : undefined);
    }
  }

  /** Follows `session`'s connection until it is replaced; retries when it is lost. */
  watch(session) {
    const { pc } = session;
    let reported = 'new'; // as before: states are reported from 'connecting' on
    let downSince = 0;
    const check = () => {
      if (session !== this.session || this.stopped) {
        clearInterval(poll);
        return;
      }
      const ice = pc.iceConnectionState;
      let s = pc.connectionState;
      // The worse of the two views wins; 'closed' needs no event to be seen here.
      if (s === 'closed' || ice === 'closed') s = 'closed';
      else if (s === 'failed' || ice === 'failed') s = 'failed';
      else if (s === 'disconnected' || ice === 'disconnected') s = 'disconnected';
      if (s !== reported) {
        reported = s;
        this.onchange({ state: s, session });
      }
      if (s === 'connected') this.attempt = 0;
      if (s === 'failed' || s === 'closed') {
        clearInterval(poll);
        this.retry();
        return;
      }
      if (s === 'disconnected') {
        downSince = downSince || Date.now();
        if (Date.now() - downSince >= 4000) {
          clearInterval(poll);
          this.retry();
        }
      } else {
        downSince = 0;
      }
    };
    const poll = setInterval(check, 1000);
    pc.addEventListener('connectionstatechange', check);
    pc.addEventListener('iceconnectionstatechange', check);
    check();
  }

  retry(ms) {
    if (this.stopped) return;
    const old = this.session;
    this.session = null;
    if (old) old.stop();
    this.attempt += 1;
    clearTimeout(this.timer);
    const delay = ms ?? Math.min(10000, 500 * 2 ** Math.min(this.attempt, 5));
    this.timer = setTimeout(() => this.run(), delay);
  }

  async stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.session) await this.session.stop();
    this.session = null;
  }
}
