// The phone camera page (/camera/{invite token}): pick the front or back camera, publish it
// over WHIP with the invite's token, and show a big tally when the studio has this camera on
// air. The camera id of an invite is its invite id, the `you.id` of the room's welcome
// (docs/protocol.md, program.changed), so the tally compares the program with it.

import { $ } from './dom.js';
import { LiveRoom } from './live.js';
import { Frame, Conn, ShowStatus } from './protocol.js';
import { connectionBanner } from './feature/banner.js';
import { INSECURE_CAMERA } from './feature/errors.js';
import { phoneCamera } from './feature/phonecam.js';

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
  sending: false,
};

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

const camera = phoneCamera({
  root, showId, token, cam, el: { preview, facingSel, startBtn, stopBtn }, setStatus, showProblem,
});

// ---- the live room (for the tally) ----------------------------------------------------------

const room = new LiveRoom(showId, () => token);
connectionBanner(room, roomStatus, {
  [Conn.OPEN]: () => null,
  [Conn.CONNECTING]: () => 'Connecting the tally…',
  [Conn.RECONNECTING]: () => 'Tally connection lost; reconnecting…',
  [Conn.CLOSED]: ({ message }) => message || 'Tally disconnected.',
}, { hide: false });
room.on(Frame.WELCOME, (w) => {
  cam.myId = (w.you && w.you.id) || null;
  cam.program = w.program ?? null;
  renderTally();
  if (w.show && w.show.status === ShowStatus.ENDED) showProblem('This show has ended.');
});
room.on(Frame.PROGRAM_CHANGED, (f) => {
  cam.program = f.camera ?? null;
  renderTally();
});
room.on(Frame.SHOW_STATUS, (f) => {
  if (f.status === ShowStatus.ENDED) {
    showProblem('The show has ended. Thank you!');
    camera.stop(false);
    setStatus('Not sending: the show has ended.');
  }
});

// ---- start ----------------------------------------------------------------------------------

startBtn.addEventListener('click', () => camera.start());
stopBtn.addEventListener('click', () => camera.stop());
facingSel.addEventListener('change', () => camera.switchFacing());
addEventListener('pagehide', () => { if (cam.keeper) cam.keeper.stop(); });

renderTally();
if (!window.isSecureContext || !navigator.mediaDevices) showProblem(INSECURE_CAMERA);

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
