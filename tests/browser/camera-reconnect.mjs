#!/usr/bin/env node
// A phone camera (/camera/{invite}) that loses its connection comes back by itself, in headless
// Chromium with its fake camera, against a livesale server whose show is live
// (tests/browser_apps/camera.rs, Fixture::new(true)).
//
//   node tests/browser/camera-reconnect.mjs --base URL --show ID --creator-token T \
//     --moderator-token T [--recover-bound-ms 30000] [--deadline-ms N]
//
// The creator makes a camera invite through the API; a phone opens it, starts, and the studio
// takes it on air (tally ON AIR). Then, twice:
//
//   network   the phone goes offline for 6 s (context.setOffline: HTTP and WebSockets fail) and
//             its media session is gone on the server (the creator DELETEs the WHIP resource,
//             what the server does itself when ICE times out; Chromium's offline mode does not
//             touch WebRTC's UDP, so the server's side is dropped explicitly);
//   closed    the page's RTCPeerConnection is closed under it (connectionState 'closed', no
//             event fires), as a browser does when it tears a connection down itself.
//
// Each time the page must say in words that it is reconnecting (#camera-status), publish again
// by itself within the bound, reappear in GET /api/shows/{id}/cameras and, taken on air again by
// the studio, show ON AIR. Prints one JSON line (see lib.mjs).

import {
  api, artifactsAtBothSizes, finish, launchBrowser, log, person, scenario, sleep, until, PHONE,
  DESKTOP,
} from './lib.mjs';

const { opts, base, show, creator, state, pages, step } = await scenario('camera-reconnect', {
  'recover-bound-ms': { type: 'string', default: '30000' },
}, {
  dump: (page) => page.evaluate(() => ({
    status: document.querySelector('#camera-status')?.textContent,
    error: document.querySelector('#camera-error')?.textContent,
    tally: document.querySelector('#tally')?.textContent,
    media: document.querySelector('#camera-page')?.dataset.media,
    conn: document.body.dataset.conn,
    pc: window.livesale && window.livesale.session ? window.livesale.session.pc.connectionState : null,
  })).catch(() => null),
});
const RECOVER_BOUND = Number(opts['recover-bound-ms']);
const result = state.partial;
result.drops = {};

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function getJson(path, token) {
  const r = await api(base, 'GET', path, token);
  check(r.status === 200, `GET ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const RECONNECTING = /reconnect|unstable|trying again|lost/i;
const SENDING = /live to the studio/i;

const browser = await step('launch chromium', () => launchBrowser('camera-reconnect'));

const invite = await step('a camera invite from the API', async () => {
  const r = await api(base, 'POST', `/api/shows/${show}/invites`, creator, { role: 'camera', label: 'Phone' });
  check(r.status === 201, `POST invites answered ${r.status}: ${JSON.stringify(r.body)}`);
  check(r.body.url && r.body.url.includes('/camera/'), `the invite has no camera url: ${JSON.stringify(r.body)}`);
  return new URL(r.body.url, base).pathname;
});

const studio = await step('the studio', async () => {
  const ctx = await person(browser, base, 'studio', DESKTOP);
  const page = await ctx.newPage();
  pages.studio = page;
  await page.goto(`${base}/studio/${show}#token=${creator}`, { waitUntil: 'load' });
  await until(page, () => window.livesale && window.livesale.ready === true && document.body.dataset.conn === 'open',
    null, 'the studio ready');
  return page;
});

const phoneCtx = await step('phone context', () => person(browser, base, 'phone', PHONE));
const phone = await step('the phone opens the camera link and starts', async () => {
  const page = await phoneCtx.newPage();
  pages.phone = page;
  const res = await page.goto(`${base}${invite}`, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET camera page answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready === true && document.body.dataset.conn === 'open'
    && window.livesale.cameraId, null, 'the camera page and its tally room');
  await page.click('#start');
  await until(page, (re) => new RegExp(re, 'i').test(document.querySelector('#camera-status').textContent),
    SENDING.source, '#camera-status to say it is sending', 25000);
  return page;
});
const cameraId = await phone.evaluate(() => window.livesale.cameraId);

/** Takes the phone on air from the studio (unless it is already) and waits for ON AIR on the phone. */
async function takeOnAir(what) {
  const sel = `#camera-grid .camera-tile[data-camera-id="${cameraId}"] .take`;
  // The server may put a camera on air by itself (the first one of a show, or the one that was
  // on air before it dropped): then the tile says so and its Take is disabled.
  const ready = await until(studio, (s) => {
    const b = document.querySelector(s);
    if (!b) return false;
    if (b.closest('.camera-tile').classList.contains('on-air')) return 'on-air';
    return !b.disabled && 'take';
  }, sel, `${what}: the phone's tile in the studio, on air or with Take`, 15000);
  let took = false;
  if (ready === 'take') {
    await studio.click(sel);
    took = true;
  }
  const t0 = Date.now();
  await until(phone, () => {
    const t = document.querySelector('#tally');
    return t.classList.contains('on-air') && t.textContent.trim() === 'ON AIR';
  }, null, `${what}: the phone's tally ON AIR`, 10000);
  const after = await getJson(`/api/shows/${show}/program`);
  check(after.camera === cameraId, `${what}: GET program says ${after.camera}`);
  return { took_again: took, tally_ms: Date.now() - t0 };
}

await step('on air', async () => {
  const cams = await getJson(`/api/shows/${show}/cameras`, creator);
  check(cams.cameras.some((c) => c.id === cameraId), `GET cameras does not list ${cameraId}: ${JSON.stringify(cams)}`);
  result.first_take = await takeOnAir('first take');
});

/**
 * After a drop made by `drop()`: the page says it is reconnecting, then sends again by itself,
 * the camera is listed again, and on air again shows ON AIR.
 */
async function recovers(name, drop, { heal = async () => {}, holdMs = 0 } = {}) {
  const t0 = Date.now();
  const before = await phone.evaluate(() => window.livesale.session && window.livesale.session.location);
  await drop();
  const said = await until(phone, (re) => {
    const t = document.querySelector('#camera-status').textContent;
    return new RegExp(re, 'i').test(t) && t;
  }, RECONNECTING.source, `${name}: #camera-status to say it is reconnecting`, 15000);
  const noticedMs = Date.now() - t0;
  log(`${name}: the page says "${said}" after ${noticedMs} ms`);
  if (holdMs) {
    await sleep(Math.max(0, holdMs - (Date.now() - t0)));
    // Still down: the page does not claim to be live while it cannot be.
    const now = await phone.evaluate(() => document.querySelector('#camera-status').textContent);
    check(!/live to the studio/i.test(now), `${name}: the page says "${now}" while offline`);
  }
  await heal();
  await until(phone, (re) => new RegExp(re, 'i').test(document.querySelector('#camera-status').textContent),
    SENDING.source, `${name}: the page to send again by itself`, RECOVER_BOUND);
  const recoveredMs = Date.now() - t0;
  const after = await phone.evaluate(() => window.livesale.session && window.livesale.session.location);
  check(after && after !== before, `${name}: no new media session (${before} → ${after})`);
  // The server lists the camera again.
  const deadlineAt = Date.now() + 10000;
  let listed = false;
  while (!listed && Date.now() < deadlineAt) {
    const cams = await getJson(`/api/shows/${show}/cameras`, creator);
    listed = cams.cameras.some((c) => c.id === cameraId);
    if (!listed) await sleep(250);
  }
  check(listed, `${name}: the camera is not in GET cameras after it reconnected`);
  await until(studio, (id) => !!document.querySelector(`#camera-grid .camera-tile[data-camera-id="${id}"]`),
    cameraId, `${name}: the phone's tile back in the studio`, 10000);
  const take = await takeOnAir(`${name}: on air again`);
  const out = { said, noticed_ms: noticedMs, recovered_ms: recoveredMs, ...take };
  result.drops[name] = out;
  log(`${name}: ${JSON.stringify(out)}`);
  return out;
}

await step('network drop: offline 6 s and the server lost the session', async () => {
  await recovers('network', async () => {
    const loc = await phone.evaluate(() => window.livesale.session.location);
    check(loc, 'the page\'s session has no resource URL');
    await phoneCtx.setOffline(true);
    const path = new URL(loc).pathname;
    const r = await api(base, 'DELETE', path, creator);
    check(r.status === 200, `DELETE ${path} as the creator answered ${r.status}: ${JSON.stringify(r.body)}`);
  }, { holdMs: 6000, heal: () => phoneCtx.setOffline(false) });
});

await step('the RTCPeerConnection closes under the page (no event)', async () => {
  await recovers('closed', () => phone.evaluate(() => window.livesale.session.pc.close()));
});

await step('screenshots', async () => {
  result.artifacts = await artifactsAtBothSizes(phone, 'camera-reconnected');
});

// The server's view while the phone is still connected (once this script ends, Chromium closes
// and the camera's session with it): the Rust side asserts on it.
await step('the server after the drops', async () => {
  result.server = {
    cameras: (await getJson(`/api/shows/${show}/cameras`, creator)).cameras,
    program: (await getJson(`/api/shows/${show}/program`)).camera ?? null,
  };
});

await finish({ ok: true, ...result });
