#!/usr/bin/env node
// The phone camera page (/camera/{invite}) over HTTPS with livesale's self-signed certificate,
// the way a person uses it, in headless Chromium with its fake camera, against a server started
// with --tls-self-signed whose show is live (tests/browser_apps/tls_camera.rs).
//
//   node tests/browser/camera-https.mjs --base https://127.0.0.1:PORT --show ID \
//     --creator-token T --moderator-token T --ca-pem PATH --fingerprint AB:CD:… [--deadline-ms N]
//
// The API calls of this script (the creator's) trust exactly the served certificate (--ca-pem,
// its fingerprint checked on every answer); node's fetch, trusting only public CAs, must refuse
// it. A browser that has not accepted the certificate gets the certificate error; a person who
// accepted it once (context ignoreHTTPSErrors) opens the camera link at phone size: the page is
// a secure context with navigator.mediaDevices, presses Start, publishes over WHIP on https://,
// its tally room is wss://, GET cameras lists it, and when the creator takes it on air
// (POST program) the tally says ON AIR. Last, the same page proxied to a plain-http LAN origin
// is no secure context and says so. Prints one JSON line (see lib.mjs).

import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';

import {
  artifactsAtBothSizes, finish, launchBrowser, log, person, scenario, until, PHONE,
} from './lib.mjs';

const { opts, base, show, creator, state, pages, step } = await scenario('camera-https', {
  'ca-pem': { type: 'string' },
  fingerprint: { type: 'string' },
}, {
  required: ['ca-pem', 'fingerprint'],
  deadlineMs: 100000,
  dump: (page) => page.evaluate(() => ({
    url: location.href,
    secure: window.isSecureContext,
    status: document.querySelector('#camera-status')?.textContent,
    error: document.querySelector('#camera-error')?.textContent,
    tally: document.querySelector('#tally')?.textContent,
    conn: document.body.dataset.conn,
    pc: window.livesale && window.livesale.session ? window.livesale.session.pc.connectionState : null,
  })).catch(() => null),
});
const result = state.partial;
const CA = readFileSync(opts['ca-pem']);
const FINGERPRINT = opts.fingerprint.toUpperCase();
const origin = new URL(base);

function check(cond, message) {
  if (!cond) throw new Error(message);
}

/**
 * JSON over HTTPS trusting exactly the served certificate (no NODE_TLS_REJECT_UNAUTHORIZED);
 * returns {status, body} and checks the certificate's fingerprint on the answer.
 */
// No TLS session resumption: a resumed session has no peer certificate to check
// (getPeerCertificate() is empty), so every request makes a full handshake.
const agent = new Agent({ ca: CA, maxCachedSessions: 0 });

function api(method, path, token, body) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(payload);
    }
    const req = request(`${base}${path}`, { method, headers, agent, timeout: 15000 }, (res) => {
      const fp = res.socket.getPeerCertificate().fingerprint256;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        if (fp !== FINGERPRINT) {
          reject(new Error(`${method} ${path}: the server presented ${fp}, not ${FINGERPRINT}`));
          return;
        }
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed = text;
        try {
          parsed = text ? JSON.parse(text) : null;
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 15 s`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

async function getJson(path, token) {
  const r = await api('GET', path, token);
  check(r.status === 200, `GET ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const SENDING = /live to the studio/i;

await step('node trusts the served certificate only when given it', async () => {
  const health = await api('GET', '/healthz');
  check(health.status === 200, `GET /healthz over HTTPS answered ${health.status}`);
  // Without the certificate (public CAs only), node refuses it.
  let refused = null;
  try {
    const r = await fetch(`${base}/healthz`);
    refused = `answered ${r.status}`;
  } catch (e) {
    refused = (e.cause && (e.cause.code || e.cause.message)) || e.message;
  }
  check(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/i.test(refused),
    `fetch without the certificate was not refused for it: ${refused}`);
  result.untrusted_fetch = refused;
  return { untrusted_fetch: refused };
});

const browser = await step('launch chromium', () => launchBrowser('camera-https'));

const invite = await step('a camera invite from the API (over HTTPS)', async () => {
  const r = await api('POST', `/api/shows/${show}/invites`, creator, { role: 'camera', label: 'Phone' });
  check(r.status === 201, `POST invites answered ${r.status}: ${JSON.stringify(r.body)}`);
  const url = new URL(r.body.url, base);
  check(url.protocol === 'https:' && url.host === origin.host && url.pathname.startsWith('/camera/'),
    `the invite's camera link is not on ${base}: ${r.body.url}`);
  result.invite_link_https = true;
  return url.pathname;
});

await step('before the certificate is accepted the browser refuses the page', async () => {
  const ctx = await person(browser, base, 'unaccepted', PHONE);
  const page = await ctx.newPage();
  let error = null;
  try {
    const res = await page.goto(`${base}${invite}`, { waitUntil: 'load', timeout: 15000 });
    error = `answered ${res && res.status()}`;
  } catch (e) {
    const code = /net::ERR_[A-Z_]+/.exec(e.message);
    error = code ? code[0] : e.message.split('\n')[0];
  }
  await ctx.close();
  check(/ERR_CERT/.test(error), `an unaccepted self-signed certificate gave no certificate error: ${error}`);
  result.cert_warning = error;
  return { error };
});

// From here on, a person who accepted the certificate warning once.
const ws = [];
const whip = [];
const phoneCtx = await step('phone context (certificate accepted)',
  () => person(browser, base, 'phone', PHONE, { ignoreHTTPSErrors: true }));

const phone = await step('the phone opens the https camera link', async () => {
  const page = await phoneCtx.newPage();
  pages.phone = page;
  // Without the query: it carries the invite token.
  page.on('websocket', (s) => ws.push(s.url().split('?')[0]));
  page.on('request', (r) => {
    if (r.method() === 'POST' && /\/whip$/.test(new URL(r.url()).pathname)) whip.push(r.url());
  });
  const res = await page.goto(`${base}${invite}`, { waitUntil: 'load', timeout: 15000 });
  check(res && res.status() === 200, `GET camera page answered ${res && res.status()}`);
  const details = await res.securityDetails();
  check(details && /TLS/.test(details.protocol || ''), `no TLS details for the page: ${JSON.stringify(details)}`);
  check(/livesale/.test(details.subjectName || ''), `the page's certificate is ${JSON.stringify(details)}`);
  result.tls = { protocol: details.protocol, subject: details.subjectName, issuer: details.issuer };
  const secure = await page.evaluate(() => ({
    protocol: location.protocol,
    secure_context: window.isSecureContext,
    media_devices: !!navigator.mediaDevices,
    get_user_media: !!(navigator.mediaDevices && typeof navigator.mediaDevices.getUserMedia === 'function'),
    insecure_warning: document.querySelector('#camera-error').hidden ? null
      : document.querySelector('#camera-error').textContent,
  }));
  result.page = secure;
  check(secure.protocol === 'https:', `the page is on ${secure.protocol}`);
  check(secure.secure_context === true, 'window.isSecureContext is not true over https');
  check(secure.media_devices && secure.get_user_media, 'navigator.mediaDevices.getUserMedia is missing over https');
  check(secure.insecure_warning === null, `the page warns: ${secure.insecure_warning}`);
  await until(page, () => window.livesale && window.livesale.ready === true && document.body.dataset.conn === 'open'
    && window.livesale.cameraId, null, 'the camera page and its tally room (wss://)');
  return page;
});
const cameraId = await phone.evaluate(() => window.livesale.cameraId);

await step('press Start: it publishes over WHIP on https', async () => {
  await phone.click('#start');
  await until(phone, (re) => new RegExp(re, 'i').test(document.querySelector('#camera-status').textContent),
    SENDING.source, '#camera-status to say it is sending', 25000);
  const session = await phone.evaluate(() => ({
    location: window.livesale.session && String(window.livesale.session.location),
    pc: window.livesale.session && window.livesale.session.pc.connectionState,
    tracks: window.livesale.stream ? window.livesale.stream.getTracks().map((t) => t.kind) : [],
  }));
  check(session.tracks.includes('video'), `no camera track: ${JSON.stringify(session)}`);
  check(whip.length > 0 && whip.every((u) => u.startsWith(`${base}/`)),
    `WHIP was not POSTed to ${base}: ${JSON.stringify(whip)}`);
  const loc = new URL(session.location, base);
  check(loc.protocol === 'https:' && loc.host === origin.host, `the WHIP resource is ${session.location}`);
  const wsOk = ws.filter((u) => u.startsWith(`wss://${origin.host}/`));
  check(wsOk.length > 0 && ws.every((u) => u.startsWith('wss://')),
    `the live room is not wss://${origin.host}: ${JSON.stringify(ws)}`);
  result.whip = whip;
  result.ws = ws;
  result.session = session;
  return session;
});

await step('GET cameras (over HTTPS) lists the phone', async () => {
  const cams = await getJson(`/api/shows/${show}/cameras`, creator);
  check(cams.cameras.some((c) => c.id === cameraId), `GET cameras does not list ${cameraId}: ${JSON.stringify(cams)}`);
  return { cameras: cams.cameras.length };
});

const tallyIs = (text) => until(phone, (t) => document.querySelector('#tally').textContent.trim() === t,
  text, `the tally to say ${text}`, 10000);

await step('the creator takes it on air: ON AIR on the phone', async () => {
  // The server puts a show's first camera on air by itself (at its first keyframe, so maybe
  // not yet): the creator takes the program off air first, which holds until the creator picks
  // a camera, so the ON AIR below can only be the creator's take arriving over wss://.
  const auto = await phone.evaluate(() => document.querySelector('#tally').textContent.trim());
  const off = await api('POST', `/api/shows/${show}/program`, creator, { camera: null });
  check(off.status === 200, `POST program {camera: null} answered ${off.status}: ${JSON.stringify(off.body)}`);
  await tallyIs('Standby');
  const held = await getJson(`/api/shows/${show}/program`);
  check(held.camera == null, `off air, GET program still says ${held.camera}`);
  const t0 = Date.now();
  const r = await api('POST', `/api/shows/${show}/program`, creator, { camera: cameraId });
  check(r.status === 200, `POST program answered ${r.status}: ${JSON.stringify(r.body)}`);
  await until(phone, () => {
    const t = document.querySelector('#tally');
    return t.classList.contains('on-air') && t.textContent.trim() === 'ON AIR';
  }, null, "the phone's tally ON AIR", 10000);
  const program = await getJson(`/api/shows/${show}/program`);
  check(program.camera === cameraId, `GET program says ${program.camera}, not ${cameraId}`);
  result.take = { was_on_air_by_itself: auto === 'ON AIR', tally_ms: Date.now() - t0 };
  return result.take;
});

await step('the same page on a plain-http LAN origin is no secure context', async () => {
  // A phone opening http://<LAN address>/camera/… : the page's bytes come from the server
  // (proxied by the browser's request routing), the origin is plain http and not loopback.
  const lan = 'http://192.0.2.10:8080';
  const ctx = await person(browser, lan, 'insecure', PHONE, { ignoreHTTPSErrors: true });
  await ctx.route(`${lan}/**`, async (route) => {
    const url = route.request().url().replace(lan, base);
    try {
      const response = await route.fetch({ url });
      await route.fulfill({ response });
    } catch {
      await route.abort().catch(() => {});
    }
  });
  // Its tally room (ws://192.0.2.10) goes nowhere, at once.
  await ctx.routeWebSocket(/.*/, (s) => s.close()).catch(() => {});
  const page = await ctx.newPage();
  const res = await page.goto(`${lan}${invite}`, { waitUntil: 'load', timeout: 15000 });
  check(res && res.status() === 200, `GET ${lan}${invite} answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready === true, null, 'the page loaded over http');
  const insecure = await page.evaluate(() => ({
    protocol: location.protocol,
    secure_context: window.isSecureContext,
    media_devices: !!navigator.mediaDevices,
    warning: document.querySelector('#camera-error').hidden ? null
      : document.querySelector('#camera-error').textContent,
  }));
  await ctx.close();
  check(insecure.protocol === 'http:' && insecure.secure_context === false,
    `http on a LAN address should not be a secure context: ${JSON.stringify(insecure)}`);
  check(!insecure.media_devices, 'navigator.mediaDevices exists on an insecure origin');
  check(/secure \(https\)/.test(insecure.warning || ''), `the page does not explain: ${insecure.warning}`);
  result.insecure = insecure;
  return insecure;
});

await step('screenshots', async () => {
  result.artifacts = await artifactsAtBothSizes(phone, 'camera-https');
});

// The server's view while the phone is still connected (once this script ends, Chromium closes
// and the camera's session with it): the Rust side asserts on it.
await step('the server at the end', async () => {
  result.server = {
    cameras: (await getJson(`/api/shows/${show}/cameras`, creator)).cameras,
    program: (await getJson(`/api/shows/${show}/program`)).camera ?? null,
  };
});

log(`camera over https: ${JSON.stringify(result.take)}`);
await finish({ ok: true, camera_id: cameraId, ...result });
