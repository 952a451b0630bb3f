// Shared helpers of the browser harness: Debian's Chromium through playwright-core (no browser
// download), logging to stderr, one JSON result on stdout, and a hard deadline.
//
// Every script prints exactly one line of JSON on stdout, `{"ok": true|false, ...}`, and exits
// 0 when ok, 1 when not. Progress goes to stderr. tests/media_browser.rs reads both.

import { mkdtempSync, rmSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

export const CHROMIUM = process.env.LIVESALE_CHROMIUM || '/usr/bin/chromium';

// The flags this machine needs (closed network, root, no GPU), plus WebRTC on loopback.
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // WebRTC: real host addresses in candidates (no mDNS names a server would have to resolve),
  // loopback interfaces included, video without a click.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
  // Pages in the background keep their timers and rendering: a publisher is never in front.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

const started = Date.now();
export function log(...parts) {
  const t = ((Date.now() - started) / 1000).toFixed(2).padStart(6);
  process.stderr.write(`[${t}s] ${parts.join(' ')}\n`);
}

let resultPrinted = false;
const cleanups = [];
export function onCleanup(fn) {
  cleanups.push(fn);
}

async function cleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await Promise.race([fn(), new Promise((r) => setTimeout(r, 5000))]);
    } catch (e) {
      log(`cleanup: ${e.message}`);
    }
  }
}

// What the pages' Content-Security-Policy refused (Chromium reports each refusal as a console
// error): any one fails the run, so the policy can never silently break a page.
const cspViolations = [];

/** Prints the one JSON result line and exits (0 when ok). */
export async function finish(result) {
  if (resultPrinted) return;
  resultPrinted = true;
  if (result.ok && cspViolations.length) {
    log(`FAILED: the Content-Security-Policy refused ${cspViolations.length} thing(s)`);
    result = {
      ...result, ok: false, failed_step: 'content-security-policy', error: cspViolations.join(' | '),
    };
  }
  await cleanup();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(result.ok ? 0 : 1);
}

/** Fails the run at `step` with an error and whatever was learnt so far. */
export function fail(step, error, extra = {}) {
  const message = error && error.message ? error.message : String(error);
  log(`FAILED at ${step}: ${message}`);
  return finish({ ok: false, failed_step: step, error: message, ...extra });
}

/** Kills the run after `ms` whatever it is doing (a second line of defence behind the caller's). */
export function deadline(ms, state = {}) {
  const t = setTimeout(() => {
    fail(state.step || 'deadline', new Error(`the harness deadline of ${ms} ms passed`), state.partial || {});
  }, ms);
  t.unref();
}

export function args(options) {
  const { values } = parseArgs({ options, strict: true, allowPositionals: false });
  return values;
}

/** Launches Debian's Chromium headless with a fresh profile; closed at exit. */
export async function launch(name) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing; run scripts/test.sh (it installs Debian's chromium)`);
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed in tests/browser (${e.message}); run ` +
      'scripts/test.sh, or `npm ci --prefix tests/browser`');
  }
  const profile = mkdtempSync(join(tmpdir(), `livesale-${name}-`));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 800, height: 600 },
    timeout: 30000,
  });
  onCleanup(async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  });
  log(`${name}: chromium ${context.browser() ? context.browser().version() : ''} profile ${profile}`);
  return context;
}

/** Opens `url` in a new page and waits until `readyFlag` is set on window. */
export async function openPage(context, url, readyFlag, label) {
  const page = await context.newPage();
  watch(page, label);
  const res = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!res || res.status() !== 200) {
    throw new Error(`GET ${url} answered ${res ? res.status() : 'nothing'}`);
  }
  await page.waitForFunction((flag) => window[flag] === true, readyFlag, { timeout: 10000 });
  return page;
}

/** Screenshots and page logs of a failed run: test-artifacts/ at the repository's root. */
const ARTIFACTS = process.env.LIVESALE_ARTIFACTS
  || fileURLToPath(new URL('../../test-artifacts', import.meta.url));

export async function screenshots(pages, dir = ARTIFACTS) {
  const saved = [];
  try {
    mkdirSync(dir, { recursive: true });
    for (const [label, page] of Object.entries(pages)) {
      if (!page) continue;
      const path = join(dir, `media-${label}-${Date.now()}.png`);
      await page.screenshot({ path, timeout: 5000 }).catch(() => {});
      if (existsSync(path)) saved.push(path);
      try {
        const lines = await page.evaluate(() => (window.whip || window.whep || { log: () => [] }).log());
        const logPath = path.replace(/\.png$/, '.log');
        writeFileSync(logPath, lines.join('\n'));
        saved.push(logPath);
      } catch {
        // the page may be gone
      }
    }
  } catch (e) {
    log(`screenshots: ${e.message}`);
  }
  return saved;
}

/** JSON over HTTP with a bearer token; returns {status, body}. */
export async function api(base, method, path, token, body) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed };
}

/** Names a colour the same way web/test/whep-player.html does. */
export function nameOf({ r, g, b }) {
  const max = Math.max(r, g, b);
  if (max < 48) return 'black';
  if (r > 96 && r > 2 * g && r > 2 * b) return 'red';
  if (g > 96 && g > 2 * r && g > 2 * b) return 'green';
  if (b > 96 && b > 2 * r && b > 2 * g) return 'blue';
  if (Math.min(r, g, b) > 200) return 'white';
  return 'other';
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function stats(values) {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (!v.length) return null;
  const q = (p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
  return { n: v.length, min: v[0], median: q(0.5), max: v[v.length - 1] };
}

// ---- the browser apps (tests/browser_apps) --------------------------------------------------

/** Phone and desktop viewports for screenshots and for driving pages at phone size. */
export const PHONE = { width: 360, height: 740 };
export const DESKTOP = { width: 1280, height: 800 };

/**
 * Launches one headless Chromium with a fake camera and microphone (Chromium's own test
 * pattern and beep) and camera/microphone permission granted, for pages that call
 * getUserMedia. Contexts made from it (`newContext`) are separate people: own storage, own
 * cookies. Closed at exit.
 */
export async function launchBrowser(name) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing; run scripts/test.sh (it installs Debian's chromium)`);
  }
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed in tests/browser (${e.message}); run ` +
      'scripts/test.sh, or `npm ci --prefix tests/browser`');
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    timeout: 30000,
  });
  onCleanup(async () => { await browser.close().catch(() => {}); });
  log(`${name}: chromium ${browser.version()}`);
  return browser;
}

/**
 * A person: a new context at `size` (PHONE or DESKTOP) with camera and microphone allowed
 * for `base`, whose pages log console errors and page errors to stderr under `label`.
 */
export async function person(browser, base, label, size = DESKTOP, extra = {}) {
  const context = await browser.newContext({
    viewport: size,
    deviceScaleFactor: 1,
    isMobile: size.width < 500,
    hasTouch: size.width < 500,
    permissions: ['camera', 'microphone'],
    ...extra,
  });
  await context.grantPermissions(['camera', 'microphone'], { origin: base }).catch(() => {});
  context.on('page', (page) => watch(page, label));
  return context;
}

/** Logs a page's console errors and uncaught exceptions under `label`. */
export function watch(page, label) {
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log(`${label} console.${m.type()}: ${m.text()}`);
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(`${label}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log(`${label} page error: ${e.message}`));
}

/**
 * Saves a screenshot of `page` as test-artifacts/<name>-<width>x<height>.png (the artifact
 * the browser-app tests keep for every page at phone and desktop sizes); returns its path.
 */
export async function artifact(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { width, height } = page.viewportSize() || { width: 0, height: 0 };
  const path = join(ARTIFACTS, `${name}-${width}x${height}.png`);
  await page.screenshot({ path, fullPage: true, timeout: 10000 });
  log(`screenshot ${path}`);
  return path;
}

/** Screenshots `page` at phone and desktop sizes (restoring its size after). */
export async function artifactsAtBothSizes(page, name) {
  const before = page.viewportSize();
  const saved = [];
  for (const size of [PHONE, DESKTOP]) {
    await page.setViewportSize(size);
    await sleep(300);
    saved.push(await artifact(page, name));
  }
  if (before) await page.setViewportSize(before);
  return saved;
}

/** Waits until `fn` (run in the page) returns something truthy; a clear error otherwise. */
/**
 * Installs `window.__frameReader.read(video, t)` in the page: draws the frame `video` presents
 * and returns `{ colour, pic }`, its centre's colour ('red', 'blue', 'black' or 'other') and the
 * capture time (Unix ms) the test cameras draw at its top as 24 bits of ms, resolved against
 * the local time `t`. Both the LL-HLS and the replay probes read frames with it.
 */
export async function installFrameReader(page) {
  await page.evaluate(() => {
    const c = document.createElement('canvas');
    c.width = 192;
    c.height = 108;
    const g = c.getContext('2d', { willReadFrequently: true });
    const WRAP = 2 ** 24;
    const lum = (d, x, y) => {
      let sum = 0;
      for (let dy = -1; dy <= 1; dy += 1) {
        for (let dx = -1; dx <= 1; dx += 1) {
          const i = ((y + dy) * c.width + (x + dx)) * 4;
          sum += (d[i] + d[i + 1] + d[i + 2]) / 3;
        }
      }
      return sum / 9;
    };
    const colourOf = (d) => {
      let r = 0; let gr = 0; let b = 0; let n = 0;
      for (let y = 40; y < 80; y += 4) {
        for (let x = 48; x < 144; x += 4) {
          const i = (y * c.width + x) * 4;
          r += d[i]; gr += d[i + 1]; b += d[i + 2]; n += 1;
        }
      }
      r /= n; gr /= n; b /= n;
      if (r > 96 && r > 2 * gr && r > 2 * b) return 'red';
      if (b > 96 && b > 2 * r && b > 2 * gr) return 'blue';
      return Math.max(r, gr, b) < 48 ? 'black' : 'other';
    };
    const read = (v, t) => {
      g.drawImage(v, 0, 0, c.width, c.height);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      let code = 0;
      for (let i = 0; i < 24; i += 1) {
        const x = Math.floor(((i % 12) + 0.5) * (c.width / 12));
        const y = Math.floor((Math.floor(i / 12) + 0.5) * (c.height / 12));
        code = code * 2 + (lum(d, x, y) > 128 ? 1 : 0);
      }
      return { colour: colourOf(d), pic: t - ((((t - code) % WRAP) + WRAP) % WRAP) };
    };
    window.__frameReader = { read };
  });
}

/**
 * Frames the page's <video> presents, counted until `need` have come or `within` ms have passed
 * (a stuck video stays under `need`; a busy machine only takes longer), and whether its clock
 * moved meanwhile.
 */
export async function framesAdvancing(page, selector, need = 5, within = 6000) {
  return page.evaluate(async ({ selector, need, within }) => {
    const v = document.querySelector(selector);
    if (!v) return { frames: 0, error: `no ${selector}` };
    let frames = 0;
    const t0 = v.currentTime;
    const started = performance.now();
    await new Promise((resolve) => {
      const tick = () => {
        frames += 1;
        if (frames >= need) { resolve(); return; }
        v.requestVideoFrameCallback(tick);
      };
      v.requestVideoFrameCallback(tick);
      setTimeout(resolve, within);
    });
    return {
      frames, ms: Math.round(performance.now() - started), advanced: v.currentTime - t0,
      width: v.videoWidth, height: v.videoHeight,
    };
  }, { selector, need, within });
}

export async function until(page, fn, arg, what, timeout = 15000) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout, polling: 100 });
    return await handle.jsonValue();
  } catch (e) {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
  }
}

/**
 * The start of every browser-app scenario script: parses the Fixture's arguments
 * (tests/browser_apps/main.rs: --base, --show, --creator-token, --moderator-token, --product…,
 * --deadline-ms) plus `extra` options, arms the deadline, and returns `step(name, fn)`, which
 * logs, records `fn`'s result under `steps[name]`, and on failure saves a screenshot of every
 * page in `pages` (as `failed-<prefix>-<page label>`; `prefix` may be a function of the options), logs what `dump(page)` returns for it, and
 * ends the run with the failed step.
 */
export async function scenario(prefix, extra = {}, { required = [], deadlineMs = 200000, dump } = {}) {
  const opts = args({
    base: { type: 'string' },
    show: { type: 'string' },
    'creator-token': { type: 'string' },
    'moderator-token': { type: 'string' },
    product: { type: 'string', multiple: true, default: [] },
    'deadline-ms': { type: 'string', default: String(deadlineMs) },
    ...extra,
  });
  for (const k of ['base', 'show', 'creator-token', ...required]) {
    if (!opts[k]) await fail('arguments', new Error(`--${k} is required`));
  }
  const label = typeof prefix === 'function' ? prefix(opts) : prefix;
  const state = { step: 'start', partial: {} };
  deadline(Number(opts['deadline-ms']), state);
  const steps = {};
  state.partial.steps = steps;
  const pages = {};
  async function step(name, fn) {
    state.step = name;
    log(`-- ${name}`);
    const t0 = Date.now();
    try {
      const r = await fn();
      // Plain results (numbers, strings, objects of measurements) go into the JSON result;
      // pages, browsers and the like only as the step's duration.
      const plain = r !== null && r !== undefined
        && (typeof r !== 'object' || Array.isArray(r) || Object.getPrototypeOf(r) === Object.prototype);
      steps[name] = plain ? r : { ms: Date.now() - t0 };
      return r;
    } catch (e) {
      const shots = [];
      for (const [who, page] of Object.entries(pages)) {
        try { shots.push(await artifact(page, `failed-${label}-${who}`)); } catch { /* page gone */ }
        if (dump) log(`${who}: ${JSON.stringify(await dump(page).catch(() => null))}`);
      }
      await fail(name, e, { ...state.partial, artifacts: shots });
      throw e; // not reached: fail() exits
    }
  }
  return {
    opts,
    base: opts.base.replace(/\/$/, ''),
    show: opts.show,
    creator: opts['creator-token'],
    products: opts.product,
    state,
    steps,
    pages,
    step,
  };
}
