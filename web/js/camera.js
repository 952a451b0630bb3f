// The phone camera page (/camera/{invite token}): pick the front or back camera, publish it
// over WHIP with the invite's token, and show a big tally when the studio has this camera on
// air. The camera id of an invite is its invite id, the `you.id` of the room's welcome
// (docs/protocol.md, program.changed), so the tally compares the program with it.

import { ApiError } from './api.js';
import { $, toast } from './dom.js';
import { LiveRoom } from './live.js';
import { whipPublish, Keeper } from './media.js';

const root = $('#camera-page');
const showId = root.dataset.showId;
const token = decodeURIComponent(location.pathname.replace(/^\/camera\//, '').split('/')[0] || '');

const preview = $('#preview');
const tally = $('#tally');
const statusEl = $('#camera-status');
const errorEl = $('#camera-error');
const roomStatus = $('#room-status');
const facingSel = $('#facing');
const startBtn = $('#start');
const stopBtn = $('#stop');

const cam = {
  stream: null,
  keeper: null,
  myId: null, // this camera's id (welcome.you.id)
  program: null, // the camera on air
  wakeLock: null,
  sending: false,
};

const INSECURE = 'The browser only opens the camera on a secure (https) address, and this page was '
  + 'opened over plain http. Ask whoever runs the show to start livesale with --tls-self-signed '
  + '(or behind HTTPS) and open the https:// camera link; accept the certificate warning once.';

function setStatus(text) {
  statusEl.textContent = text;
}

function showProblem(text) {
  errorEl.textContent = text;
  errorEl.hidden = !text;
}

// ---- the tally ------------------------------------------------------------------------------

function onAir() {
  return !!(cam.myId && cam.program && cam.program === cam.myId);
}

function renderTally() {
  const live = onAir();
  tally.classList.toggle('on-air', live);
  tally.classList.toggle('standby', !live);
  tally.textContent = live ? 'ON AIR' : 'Standby';
  document.body.classList.toggle('on-air', live);
  root.dataset.tally = live ? 'on-air' : 'standby';
}

// ---- the camera -----------------------------------------------------------------------------

function mediaErrorText(e) {
  switch (e && e.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
      return 'Camera access was denied. Allow the camera (and microphone) for this site in the '
        + "browser's settings (the icon next to the address), then press Start again.";
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return 'No camera was found on this device.';
    case 'NotReadableError':
    case 'TrackStartError':
      return 'The camera is busy: another app (a video call, the camera app) is using it. Close it and press Start again.';
    case 'OverconstrainedError':
      return 'This device has no camera facing that way. Choose the other camera.';
    case 'SecurityError':
      return INSECURE;
    case 'AbortError':
      return 'The camera did not start. Press Start to try again.';
    default:
      return (e && e.message) || 'The camera could not start.';
  }
}

async function openCamera(facing, withAudio = true) {
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    const err = new Error(INSECURE);
    err.name = 'SecurityError';
    throw err;
  }
  const video = { facingMode: { ideal: facing }, width: { ideal: 1280 }, height: { ideal: 720 } };
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio: withAudio });
  } catch (e) {
    // No microphone, or it is busy: send the picture alone rather than nothing.
    if (withAudio && (e.name === 'NotFoundError' || e.name === 'NotReadableError')) {
      return navigator.mediaDevices.getUserMedia({ video, audio: false });
    }
    throw e;
  }
}

function showPreview() {
  preview.srcObject = null;
  preview.srcObject = cam.stream;
  preview.classList.toggle('mirror', facingSel.value === 'user');
  preview.play().catch(() => { /* muted autoplay is allowed; nothing to do */ });
}

const WORDS = {
  connecting: 'Connecting to the studio…',
  reconnecting: 'Connection lost. Reconnecting to the studio…',
  new: 'Connecting to the studio…',
  connected: 'Live to the studio: the studio can see this camera.',
  disconnected: 'The connection dropped. Reconnecting to the studio…',
  failed: 'The connection failed. Reconnecting to the studio…',
  closed: 'Disconnected. Reconnecting to the studio…',
};

function onMedia({ state, error }) {
  root.dataset.media = state;
  if (state === 'error') {
    // Retrying cannot help these: the link is not valid, the show has ended, or this phone
    // cannot send the show's video codec.
    const final = error && ((error.status && [400, 401, 403, 404, 415].includes(error.status))
      || ['codec_mismatch', 'show_ended'].includes(error.code));
    const why = error instanceof ApiError ? error.message : String(error && error.message);
    if (final) {
      setStatus('Not sending.');
      showProblem(`The studio refused this camera: ${why}`);
      stopCamera(false);
    } else {
      setStatus(`Could not reach the studio (${why}). Trying again…`);
    }
    return;
  }
  if (state === 'connected') showProblem('');
  setStatus(WORDS[state] || state);
}

async function startCamera() {
  showProblem('');
  startBtn.disabled = true;
  setStatus('Opening the camera…');
  try {
    cam.stream = await openCamera(facingSel.value);
  } catch (e) {
    startBtn.disabled = false;
    setStatus('Not sending.');
    showProblem(mediaErrorText(e));
    return;
  }
  showPreview();
  cam.sending = true;
  startBtn.hidden = true;
  startBtn.disabled = false;
  stopBtn.hidden = false;
  stopBtn.focus();
  root.classList.add('sending');
  wake();
  cam.keeper = new Keeper(() => whipPublish({ showId, token, stream: cam.stream }), onMedia);
  cam.keeper.run();
}

function stopCamera(sayStopped = true) {
  cam.sending = false;
  if (cam.keeper) cam.keeper.stop();
  cam.keeper = null;
  if (cam.stream) for (const t of cam.stream.getTracks()) t.stop();
  cam.stream = null;
  preview.srcObject = null;
  startBtn.hidden = false;
  stopBtn.hidden = true;
  root.classList.remove('sending');
  delete root.dataset.media;
  release();
  if (sayStopped) setStatus('Stopped. Press Start to send again.');
  if (document.activeElement === stopBtn || document.activeElement === document.body) startBtn.focus();
}

/** Switches between front and back camera; while live, the sent track is replaced in place. */
async function switchFacing() {
  preview.classList.toggle('mirror', facingSel.value === 'user');
  if (!cam.stream) return;
  facingSel.disabled = true;
  const old = cam.stream.getVideoTracks()[0];
  try {
    // Many phones cannot open both cameras at once: let go of the old one first.
    if (old) old.stop();
    let fresh;
    try {
      fresh = await openCamera(facingSel.value, false);
    } catch (e) {
      showProblem(mediaErrorText(e));
      fresh = await openCamera(facingSel.value === 'user' ? 'environment' : 'user', false);
      facingSel.value = facingSel.value === 'user' ? 'environment' : 'user';
    }
    const track = fresh.getVideoTracks()[0];
    if (old) cam.stream.removeTrack(old);
    cam.stream.addTrack(track);
    showPreview();
    const session = cam.keeper && cam.keeper.session;
    const tr = session && session.pc.getTransceivers().find((t) => t.receiver.track && t.receiver.track.kind === 'video');
    if (tr) {
      try {
        await tr.sender.replaceTrack(track);
      } catch {
        cam.keeper.retry(0); // publish again with the new track
      }
    }
    toast(facingSel.value === 'user' ? 'Front camera' : 'Back camera', 'info', 1500);
  } catch (e) {
    showProblem(mediaErrorText(e));
  } finally {
    facingSel.disabled = false;
  }
}

// ---- wake lock ------------------------------------------------------------------------------

async function wake() {
  if (!('wakeLock' in navigator) || cam.wakeLock) return;
  try {
    cam.wakeLock = await navigator.wakeLock.request('screen');
    cam.wakeLock.addEventListener('release', () => { cam.wakeLock = null; });
  } catch {
    // Refused (battery saver, page hidden): the phone may dim; nothing else to do.
  }
}

function release() {
  if (cam.wakeLock) cam.wakeLock.release().catch(() => {});
  cam.wakeLock = null;
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && cam.sending) wake();
});

// ---- the live room (for the tally) ----------------------------------------------------------

const room = new LiveRoom(showId, () => token);
room.on('state', ({ state, message }) => {
  document.body.dataset.conn = state;
  if (state === 'open') roomStatus.textContent = '';
  else if (state === 'reconnecting') roomStatus.textContent = 'Tally connection lost; reconnecting…';
  else if (state === 'closed') roomStatus.textContent = message || 'Tally disconnected.';
  else roomStatus.textContent = 'Connecting the tally…';
});
room.on('welcome', (w) => {
  cam.myId = (w.you && w.you.id) || null;
  cam.program = w.program ?? null;
  renderTally();
  if (w.show && w.show.status === 'ended') showProblem('This show has ended.');
});
room.on('program.changed', (f) => {
  cam.program = f.camera ?? null;
  renderTally();
});
room.on('show.status', (f) => {
  if (f.status === 'ended') {
    showProblem('The show has ended. Thank you!');
    stopCamera(false);
    setStatus('Not sending: the show has ended.');
  }
});

// ---- start ----------------------------------------------------------------------------------

startBtn.addEventListener('click', () => startCamera());
stopBtn.addEventListener('click', () => stopCamera());
facingSel.addEventListener('change', () => switchFacing());
addEventListener('pagehide', () => { if (cam.keeper) cam.keeper.stop(); });

renderTally();
if (!window.isSecureContext || !navigator.mediaDevices) showProblem(INSECURE);

window.livesale = {
  ready: true,
  page: 'camera',
  room,
  get cameraId() { return cam.myId; },
  get onAir() { return onAir(); },
  get session() { return cam.keeper && cam.keeper.session; },
  get stream() { return cam.stream; },
};

room.connect();
