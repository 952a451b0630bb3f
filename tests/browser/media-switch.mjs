#!/usr/bin/env node
// Two cameras and a viewer in headless Chromium against a running livesale server.
//
// One Chromium publishes two canvas cameras over WHIP (web/test/whip-canvas.html, a red one and
// a blue one); another Chromium plays the show's program feed over WHEP
// (web/test/whep-player.html). This script switches the program with
// `POST /api/shows/{id}/program {"camera"}` and, for each switch, measures the time from the
// request to the first frame of the new colour on the viewer's screen, then samples a second of
// frames to see that the colour stays.
//
//   node tests/browser/media-switch.mjs --base http://127.0.0.1:PORT --show ID \
//     --creator-token T --red-token T --blue-token T --viewer-token T [--switches 3] \
//     [--bound-ms 5000] [--deadline-ms 120000]
//
//   node tests/browser/media-switch.mjs --check --base http://127.0.0.1:PORT
//     The harness's own check, with no media server needed: the pages load from the server's
//     static files, a canvas capture shows its colour headless, and VP8 over a peer connection
//     inside Chromium plays into the player's <video>, whose colour the player reads.
//
// Prints one JSON line on stdout (see lib.mjs); tests/media_browser.rs asserts on it.

import {
  api, args, deadline, fail, finish, launch, log, nameOf, openPage, screenshots, sleep, stats,
} from './lib.mjs';

const opts = args({
  base: { type: 'string' },
  show: { type: 'string' },
  'creator-token': { type: 'string' },
  'red-token': { type: 'string' },
  'blue-token': { type: 'string' },
  'viewer-token': { type: 'string' },
  switches: { type: 'string', default: '3' },
  'bound-ms': { type: 'string', default: '5000' },
  'first-bound-ms': { type: 'string', default: '15000' },
  'hold-ms': { type: 'string', default: '1000' },
  'deadline-ms': { type: 'string', default: '120000' },
  check: { type: 'boolean', default: false },
});

if (!opts.base) {
  await fail('arguments', new Error('--base is required'));
}
const base = opts.base.replace(/\/$/, '');
const state = { step: 'start', partial: {} };
deadline(Number(opts['deadline-ms']), state);

const pages = {};

async function step(name, fn) {
  state.step = name;
  log(`-- ${name}`);
  try {
    return await fn();
  } catch (e) {
    const shots = await screenshots(pages);
    await fail(name, e, { ...state.partial, artifacts: shots });
    throw e; // not reached: fail() exits
  }
}

async function previewOf(page, colour) {
  await page.waitForFunction((c) => {
    const p = window.whip.previewColour();
    if (!p) return false;
    const { r, g, b } = p;
    const max = Math.max(r, g, b);
    const name = max < 48 ? 'black'
      : (r > 96 && r > 2 * g && r > 2 * b) ? 'red'
        : (g > 96 && g > 2 * r && g > 2 * b) ? 'green'
          : (b > 96 && b > 2 * r && b > 2 * g) ? 'blue' : 'other';
    return name === c;
  }, colour, { timeout: 10000, polling: 50 });
  const p = await page.evaluate(() => window.whip.previewColour());
  return { ...p, name: nameOf(p) };
}

// ---- --check: the harness and the browser, no media server needed ---------------------------
if (opts.check) {
  const browser = await step('launch chromium', () => launch('check'));
  const camera = await step('open web/test/whip-canvas.html', async () => {
    pages.camera = await openPage(browser, `${base}/static/test/whip-canvas.html?colour=red`, 'whipReady', 'camera');
    return pages.camera;
  });
  const preview = await step('canvas capture shows red headless', () => previewOf(camera, 'red'));
  const track = await camera.evaluate(() => window.whip.trackState());
  state.partial.preview = preview;

  const player = await step('open web/test/whep-player.html', async () => {
    pages.player = await openPage(browser, `${base}/static/test/whep-player.html`, 'whepReady', 'player');
    return pages.player;
  });
  const loopback = await step('VP8 over a loopback peer connection', () =>
    player.evaluate(() => window.whep.startLoopback('green')));
  const seen = await step('the player reads green from its <video>', async () => {
    const r = await player.evaluate(() => window.whep.waitForColour('green', 10000, 3));
    if (!r.ok) throw new Error(`no green frame in 10 s; last ${JSON.stringify(r.last)}`);
    return r;
  });
  const sample = await player.evaluate(() => window.whep.sample(1000));
  const playerStats = await player.evaluate(() => window.whep.stats());
  await finish({
    ok: true,
    mode: 'check',
    capture: track,
    preview,
    loopback: { ...loopback, first: seen, sample, stats: playerStats },
  });
}

// ---- the real thing ---------------------------------------------------------------------------
for (const k of ['show', 'creator-token', 'red-token', 'blue-token', 'viewer-token']) {
  if (!opts[k]) await fail('arguments', new Error(`--${k} is required`));
}
const show = opts.show;
const creator = opts['creator-token'];
const bound = Number(opts['bound-ms']);
const firstBound = Number(opts['first-bound-ms']);
const holdMs = Number(opts['hold-ms']);
const nSwitches = Number(opts.switches);
const whipUrl = `${base}/api/shows/${encodeURIComponent(show)}/whip`;
const whepUrl = `${base}/api/shows/${encodeURIComponent(show)}/whep`;

async function cameras() {
  const r = await api(base, 'GET', `/api/shows/${encodeURIComponent(show)}/cameras`, creator);
  if (r.status !== 200) throw new Error(`GET cameras answered ${r.status}: ${JSON.stringify(r.body)}`);
  if (!r.body || !Array.isArray(r.body.cameras)) throw new Error(`GET cameras: no "cameras" array: ${JSON.stringify(r.body)}`);
  return r.body.cameras;
}

// The camera that appeared after `known`: the server names cameras, the harness learns the id.
async function newCamera(known, timeoutMs = 10000) {
  const until = Date.now() + timeoutMs;
  let list = [];
  while (Date.now() < until) {
    list = await cameras();
    const fresh = list.filter((c) => !known.has(c.id));
    if (fresh.length === 1) return fresh[0];
    if (fresh.length > 1) throw new Error(`expected one new camera, got ${JSON.stringify(fresh)}`);
    await sleep(100);
  }
  throw new Error(`no new camera in GET cameras within ${timeoutMs} ms: ${JSON.stringify(list)}`);
}

const publishers = await step('launch the publishers\' chromium', () => launch('publishers'));
const viewerBrowser = await step('launch the viewer\'s chromium', () => launch('viewer'));

const cams = {};
// The show is new: the cameras listed after each publish, less those already known, is the one
// that just published.
const known = new Set();
for (const [colour, token] of [['red', opts['red-token']], ['blue', opts['blue-token']]]) {
  const page = await step(`open the ${colour} camera page`, async () => {
    pages[colour] = await openPage(publishers, `${base}/static/test/whip-canvas.html?colour=${colour}`, 'whipReady', colour);
    return pages[colour];
  });
  const preview = await step(`the ${colour} canvas capture shows ${colour}`, () => previewOf(page, colour));
  const published = await step(`WHIP publish of the ${colour} camera`, () =>
    page.evaluate((a) => window.whip.start(a), { endpoint: whipUrl, token }));
  log(`${colour}: ${JSON.stringify(published)}`);
  const camera = await step(`the ${colour} camera appears in GET cameras`, () => newCamera(known));
  known.add(camera.id);
  cams[colour] = { id: camera.id, label: camera.label, preview, whip: published };
  state.partial.cameras = cams;
}

const player = await step('open the player page', async () => {
  pages.player = await openPage(viewerBrowser, `${base}/static/test/whep-player.html`, 'whepReady', 'player');
  return pages.player;
});
const playing = await step('WHEP play of the program', () =>
  player.evaluate((a) => window.whep.start(a), { endpoint: whepUrl, token: opts['viewer-token'] }));
log(`player: ${JSON.stringify(playing)}`);
state.partial.whep = playing;

const switches = [];
state.partial.switches = switches;

async function switchTo(colour, boundMs, label) {
  const other = colour === 'red' ? 'blue' : 'red';
  const camera = cams[colour].id;
  // The watch is in place before the request leaves.
  await player.evaluate(([c, t]) => { window.__watch = window.whep.waitForColour(c, t, 3); }, [colour, boundMs]);
  const before = await player.evaluate(() => window.whep.colour());
  const t0 = Date.now();
  const r = await api(base, 'POST', `/api/shows/${encodeURIComponent(show)}/program`, creator, { camera });
  const answeredMs = Date.now() - t0;
  if (r.status !== 200 && r.status !== 204) {
    throw new Error(`POST program {camera: ${camera}} answered ${r.status}: ${JSON.stringify(r.body)}`);
  }
  const seen = await player.evaluate(() => window.__watch);
  const entry = {
    label,
    to: colour,
    camera,
    before: before ? before.name : null,
    http_status: r.status,
    answered_ms: answeredMs,
    bound_ms: boundMs,
    ok: seen.ok,
    latency_ms: seen.ok ? seen.at - t0 : null,
    frames_waited: seen.frames,
  };
  if (!seen.ok) {
    entry.last = seen.last;
    switches.push(entry);
    throw new Error(`no ${colour} frame within ${boundMs} ms of switching to camera ${camera}; ` +
      `last frame ${JSON.stringify(seen.last)} after ${seen.frames} frames`);
  }
  // The colour stays: a second of frames after the switch shows the new camera only.
  const sample = await player.evaluate((ms) => window.whep.sample(ms), holdMs);
  entry.hold = { ms: holdMs, ...sample, wrong: sample.counts[other] || 0 };
  const list = await cameras();
  entry.on_air = Object.fromEntries(list.map((c) => [c.id === cams.red.id ? 'red' : c.id === cams.blue.id ? 'blue' : c.id, !!c.on_air]));
  switches.push(entry);
  log(`switch ${label} -> ${colour}: ${entry.latency_ms} ms (request answered in ${answeredMs} ms), ` +
    `then ${sample.frames} frames ${JSON.stringify(sample.counts)} in ${holdMs} ms`);
  return entry;
}

await step('first program: red', () => switchTo('red', firstBound, 'first'));
let next = 'blue';
for (let i = 1; i <= nSwitches; i += 1) {
  await step(`switch ${i}: ${next}`, () => switchTo(next, bound, `switch ${i}`));
  next = next === 'red' ? 'blue' : 'red';
}

const finalStats = await step('stats', async () => ({
  red: await pages.red.evaluate(() => window.whip.stats()),
  blue: await pages.blue.evaluate(() => window.whip.stats()),
  player: await player.evaluate(() => window.whep.stats()),
}));
const stopped = await step('stop (DELETE the sessions)', async () => ({
  player: await player.evaluate(() => window.whep.stop()),
  red: await pages.red.evaluate(() => window.whip.stop()),
  blue: await pages.blue.evaluate(() => window.whip.stop()),
}));

const measured = switches.filter((s) => s.label !== 'first').map((s) => s.latency_ms);
await finish({
  ok: true,
  mode: 'switch',
  cameras: cams,
  whep: playing,
  switches,
  latency_ms: stats(measured),
  stats: finalStats,
  stopped,
});
