// The studio's camera grid: a tile per camera of the show with a live WHEP preview (this
// computer's own camera shows its local stream instead), the program switch ("Take") and which
// camera is on air. `program.changed` from the room is the truth; the camera list
// (`GET /cameras`, polled) fills in before the first one and after a Take nobody announced.

import { $, h, busy } from '../dom.js';
import { whepPlay, Keeper, isFinal } from '../media.js';
import { ShowStatus } from '../protocol.js';

const POLL_MS = 3000;
const TAKE_TIMEOUT_MS = 10000;

function tileText(tile, text) {
  tile.stateEl.textContent = text;
  tile.stateEl.hidden = !text;
}

function makeTile(cam, onTake) {
  const video = h('video', { muted: true, playsInline: true, autoplay: true, 'aria-hidden': 'true' });
  video.muted = true;
  const label = h('bdi', { class: 'camera-label', dir: 'auto' }, cam.label);
  const take = h('button', { type: 'button', class: 'take small' }, 'Take');
  const onAirLabel = h('span', { class: 'onair-label', hidden: true }, 'ON AIR');
  const stateEl = h('span', { class: 'tile-state' }, 'Connecting…');
  const li = h('li', { class: 'camera-tile', dataset: { cameraId: cam.id } },
    h('div', { class: 'tile-video' }, video, onAirLabel, stateEl),
    h('div', { class: 'tile-foot' }, label, h('span', { class: 'tile-kind muted' }), take));
  const tile = { id: cam.id, li, video, label, take, onAirLabel, stateEl, keeper: null, dead: false, local: false };
  take.addEventListener('click', () => onTake(tile));
  return tile;
}

/** Draws a tile as on air, switching (pending) or neither. */
function markTile(tile, program, pending) {
  const isPending = tile.id === pending;
  tile.li.classList.toggle('on-air', tile.id === program);
  tile.li.classList.toggle('pending', isPending);
  if (tile.id === program) tile.li.setAttribute('aria-current', 'true');
  else tile.li.removeAttribute('aria-current');
  tile.onAirLabel.hidden = tile.id !== program;
  tile.take.textContent = isPending ? 'Switching…' : (tile.id === program ? 'On air' : 'Take');
  tile.take.disabled = isPending || (tile.id === program && !pending);
  tile.take.setAttribute('aria-busy', isPending ? 'true' : 'false');
}

/**
 * The grid of the studio `state` (`tiles`, `program`, `roomProgram`, `pending`, `laptop`,
 * `status`). Returns `{refresh, markProgram, programChanged, removeTile, makeLocal, stopPreviews}`.
 */
export function cameraGrid({ showId, token, base, call, state }) {
  const grid = $('#camera-grid');

  function startPreview(tile) {
    if (tile.local) return;
    tile.dead = false;
    const keeper = new Keeper(
      () => whepPlay({ showId, token, video: tile.video, camera: tile.id }),
      ({ state: s, error }) => {
        if (s === 'connected') tileText(tile, '');
        else if (s === 'connecting') tileText(tile, 'Connecting…');
        else if (s === 'reconnecting' || s === 'disconnected' || s === 'failed') tileText(tile, 'Reconnecting…');
        else if (s === 'error') {
          tileText(tile, error ? error.message : 'No preview');
          // Not retried until the camera list says so.
          if (isFinal(error)) tile.dead = true;
        }
      },
    );
    tile.keeper = keeper;
    keeper.run();
  }

  function stopPreview(tile) {
    if (tile.keeper) tile.keeper.stop();
    tile.keeper = null;
  }

  function emptyGrid() {
    const empty = $('.camera-empty', grid);
    if (empty) empty.hidden = state.tiles.size > 0;
  }

  function removeTile(id) {
    const tile = state.tiles.get(id);
    if (!tile) return;
    stopPreview(tile);
    tile.li.remove();
    state.tiles.delete(id);
    emptyGrid();
  }

  /** Makes the tile show this computer's own stream instead of a WHEP preview. */
  function makeLocal(tile) {
    if (tile.local) return;
    stopPreview(tile);
    tile.local = true;
    tile.li.classList.add('local');
    tile.li.querySelector('.tile-kind').textContent = 'this computer';
    tile.video.srcObject = state.laptop.stream;
    tile.video.play().catch(() => {});
    tileText(tile, '');
  }

  const isLaptop = (id) => id === state.laptop.cameraId && state.laptop.stream;

  function syncTile(cam) {
    let tile = state.tiles.get(cam.id);
    if (!tile) {
      tile = makeTile(cam, take);
      state.tiles.set(cam.id, tile);
      grid.appendChild(tile.li);
      if (isLaptop(cam.id)) makeLocal(tile);
      else startPreview(tile);
    } else if (isLaptop(cam.id)) {
      makeLocal(tile);
    } else if (tile.dead && !tile.local) {
      startPreview(tile);
    }
    if (tile.label.textContent !== cam.label) tile.label.textContent = cam.label;
    tile.take.setAttribute('aria-label', `Put ${cam.label} on air`);
    tile.li.classList.toggle('no-video', cam.video === false);
    if (!tile.local && cam.connected === false && !tile.stateEl.textContent) tileText(tile, 'Camera connecting…');
  }

  function sync(list) {
    const seen = new Set(list.map((cam) => cam.id));
    for (const cam of list) syncTile(cam);
    for (const id of [...state.tiles.keys()]) if (!seen.has(id)) removeTile(id);
    emptyGrid();
    markProgram();
  }

  let busyListing = false;
  async function refresh() {
    if (!token || busyListing || state.status === ShowStatus.ENDED) return;
    busyListing = true;
    try {
      const data = await call('GET', `${base}/cameras`);
      sync(data.cameras || []);
      // The room's program.changed is the truth; the list's program fills in before the first one.
      if (!state.roomProgram && !state.pending && data.program && data.program.camera !== state.program) {
        state.program = data.program.camera;
        markProgram();
      }
    } catch (e) {
      $('#program-status').textContent = `Cameras could not be listed: ${e.message}`;
    } finally {
      busyListing = false;
    }
  }

  function programText(pending) {
    const onAirTile = state.tiles.get(state.program);
    if (pending) {
      const t = state.tiles.get(pending);
      return `Switching to ${t ? t.label.textContent : 'the camera'}…`;
    }
    if (onAirTile) return `On air: ${onAirTile.label.textContent}`;
    if (state.program) return 'A camera is on air.';
    return state.tiles.size ? 'Nothing on air: press Take on a camera.' : 'Nothing on air yet.';
  }

  function markProgram() {
    const pending = state.pending && state.pending.camera;
    for (const tile of state.tiles.values()) markTile(tile, state.program, pending);
    $('#program-status').textContent = programText(pending);
  }

  function clearPending() {
    if (state.pending) clearTimeout(state.pending.timer);
    state.pending = null;
  }

  async function take(tile) {
    await busy(tile.take, async () => {
      clearPending();
      await call('POST', `${base}/program`, { camera: tile.id });
      if (state.program === tile.id) return; // program.changed already came
      state.pending = {
        camera: tile.id,
        // No announcement within a while: show what the server says instead of a stuck button.
        timer: setTimeout(() => { clearPending(); state.roomProgram = false; refresh(); }, TAKE_TIMEOUT_MS),
      };
    });
    markProgram();
  }

  /** A `program.changed` frame: `camera` is on air (null: nothing). */
  function programChanged(camera) {
    state.program = camera ?? null;
    state.roomProgram = true;
    if (state.pending && (state.pending.camera === camera)) clearPending();
    markProgram();
    refresh();
  }

  function stopPreviews() {
    for (const tile of state.tiles.values()) stopPreview(tile);
  }

  setInterval(refresh, POLL_MS);
  return { refresh, markProgram, programChanged, removeTile, makeLocal, stopPreviews };
}
