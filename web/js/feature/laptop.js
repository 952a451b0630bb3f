// This computer's camera in the studio: opens the camera and microphone, publishes them over
// WHIP as a camera of the show (kept alive by a Keeper), and shows its own stream in its tile.

import { $, busy } from '../dom.js';
import { whipPublish, Keeper } from '../media.js';
import { captureCamera } from './devices.js';
import { computerCameraError } from './errors.js';

const WORDS = {
  connecting: 'Connecting…',
  reconnecting: 'Connection lost; reconnecting…',
  connected: 'Sending to the studio.',
  disconnected: 'Connection unstable; waiting…',
  failed: 'Connection failed; trying again…',
  closed: 'Stopped.',
};

async function openLaptopCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error('This browser cannot open the camera here: the page needs a secure (https) address. Start livesale with --tls-self-signed, or open the studio on http://localhost.');
  }
  return captureCamera({ width: { ideal: 1280 }, height: { ideal: 720 } });
}

/**
 * The laptop camera of the studio `state.laptop` (`stream`, `keeper`, `cameraId`) on the grid
 * `cameras`. Returns `stop()`.
 */
export function laptopCamera({ showId, token, state, cameras }) {
  const button = $('#laptop-camera');
  const status = $('#laptop-status');

  async function start() {
    let stream;
    try {
      stream = await openLaptopCamera();
    } catch (e) {
      throw computerCameraError(e);
    }
    state.laptop.stream = stream;
    button.textContent = "Stop this computer's camera";
    button.setAttribute('aria-pressed', 'true');
    const keeper = new Keeper(async () => {
      const session = await whipPublish({ showId, token, stream, label: 'Laptop' });
      if (state.laptop.cameraId && state.laptop.cameraId !== session.cameraId) cameras.removeTile(state.laptop.cameraId);
      state.laptop.cameraId = session.cameraId;
      await cameras.refresh();
      const tile = state.tiles.get(session.cameraId);
      if (tile) cameras.makeLocal(tile);
      return session;
    }, ({ state: s, error }) => {
      status.textContent = s === 'error' ? `Could not send: ${error.message}` : (WORDS[s] || s);
    });
    state.laptop.keeper = keeper;
    await keeper.run();
  }

  function stop() {
    const { keeper, stream, cameraId } = state.laptop;
    if (keeper) keeper.stop();
    if (stream) for (const t of stream.getTracks()) t.stop();
    state.laptop = { stream: null, keeper: null, cameraId: null };
    if (cameraId) cameras.removeTile(cameraId);
    button.textContent = "Start this computer's camera";
    button.setAttribute('aria-pressed', 'false');
    status.textContent = keeper ? 'Stopped.' : '';
    cameras.refresh();
  }

  button.addEventListener('click', () => busy(button, async () => {
    if (state.laptop.stream) stop();
    else await start();
  }, status));

  return stop;
}
