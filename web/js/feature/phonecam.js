// The phone camera itself: opens the front or back camera (with the microphone where there is
// one), publishes it over WHIP with the invite's token (kept alive by a Keeper), switches
// cameras in place while live, keeps the screen on while sending, and says in words what is
// happening (`#camera-status`, `#camera-error`).

import { ApiError } from '../api.js';
import { toast } from '../dom.js';
import { whipPublish, Keeper, isFinal } from '../media.js';
import { Code } from '../protocol.js';
import { captureCamera } from './devices.js';
import { phoneCameraWords, INSECURE_CAMERA as INSECURE } from './errors.js';
import { screenWakeLock } from './wakelock.js';

/**
 * The camera of the page `root` in `cam` (`stream`, `keeper`, `sending`); `el` holds `preview`,
 * `facingSel`, `startBtn`, `stopBtn`; `setStatus` and `showProblem` put words on the page.
 * Returns `{start, stop, switchFacing}`.
 */
export function phoneCamera({ root, showId, token, cam, el, setStatus, showProblem }) {
  const { preview, facingSel, startBtn, stopBtn } = el;
  const wakeLock = screenWakeLock(() => cam.sending);

  async function openCamera(facing, withAudio = true) {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      const err = new Error(INSECURE);
      err.name = 'SecurityError';
      throw err;
    }
    return captureCamera({ facingMode: { ideal: facing }, width: { ideal: 1280 }, height: { ideal: 720 } }, withAudio);
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
      const final = error && (isFinal(error) || [Code.CODEC_MISMATCH, Code.SHOW_ENDED].includes(error.code));
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
      showProblem(phoneCameraWords(e));
      return;
    }
    showPreview();
    cam.sending = true;
    startBtn.hidden = true;
    startBtn.disabled = false;
    stopBtn.hidden = false;
    stopBtn.focus();
    root.classList.add('sending');
    wakeLock.hold();
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
    wakeLock.release();
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
        showProblem(phoneCameraWords(e));
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
      showProblem(phoneCameraWords(e));
    } finally {
      facingSel.disabled = false;
    }
  }

  return { start: startCamera, stop: stopCamera, switchFacing };
}
