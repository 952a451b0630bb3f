#!/usr/bin/env node
// The creator's dashboard (/dashboard) as a new creator uses it on a phone (360×740, in New
// York's time zone): open the sign-in link; move between the sections by keyboard; schedule a
// show (the start typed as local time, sent with its offset); import the sample Shopify CSV
// (preview, then commit, with the progress bar); search and edit a product; put products in the
// show's lineup (and take one out); copy the viewer link and show its QR code; invite a
// moderator; edit and cancel a second show; open the studio and go live; after an order, find
// it in the orders list (filters, email and address), export it as CSV and refund it; then the
// settings: display name, webhook with a test event and its delivery, moderators and blocked
// terms for all shows, and signing out everywhere. After each step the server's state is read
// back through the API with the creator's token.
//
// Every section (and the import preview, a show's panel, a dialog, the signed-out page) is
// photographed at 360×740 and 1280×800 into --screens, audited with axe-core (WCAG 2.0 A/AA,
// 2.1 AA; serious or critical fails the run) and checked for sideways scrolling at 360 px.
//
//   node tests/browser/dashboard.mjs --base URL --signin-url URL --creator-token T \
//     --creator-id ID --csv docs/samples/shopify-products.csv --screens DIR [--deadline-ms N]
//
// Routes the server does not have yet (read from /api/openapi.json) are listed in `missing`
// and their steps skipped; tests/browser_apps/dashboard.rs requires that list to be empty.
// Prints one JSON line (see lib.mjs).

import { readFileSync, mkdirSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import {
  api, args, deadline, fail, finish, launchBrowser, log, onCleanup, person, sleep, until, PHONE, DESKTOP,
} from './lib.mjs';

const opts = args({
  base: { type: 'string' },
  'signin-url': { type: 'string' },
  'creator-token': { type: 'string' },
  'creator-id': { type: 'string' },
  csv: { type: 'string' },
  screens: { type: 'string' },
  'deadline-ms': { type: 'string', default: '280000' },
});
for (const k of ['base', 'signin-url', 'creator-token', 'creator-id', 'csv', 'screens']) {
  if (!opts[k]) await fail('arguments', new Error(`--${k} is required`));
}
const base = opts.base.replace(/\/$/, '');
const creator = opts['creator-token'];
const creatorId = opts['creator-id'];
const SCREENS = opts.screens;
mkdirSync(SCREENS, { recursive: true });

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21aa'];
const BLOCKING = new Set(['serious', 'critical']);

const state = { step: 'start', partial: {} };
deadline(Number(opts['deadline-ms']), state);
const result = state.partial;
result.steps = {};
result.missing = [];
result.screenshots = [];
result.audited = [];
result.violations = [];
result.minor = [];
result.overflow = [];
const pages = {};

async function step(name, fn) {
  state.step = name;
  log(`-- ${name}`);
  const t0 = Date.now();
  try {
    const r = await fn();
    const plain = r !== null && r !== undefined
      && (typeof r !== 'object' || Array.isArray(r) || Object.getPrototypeOf(r) === Object.prototype);
    result.steps[name] = plain ? r : { ms: Date.now() - t0 };
    return r;
  } catch (e) {
    for (const [who, page] of Object.entries(pages)) {
      try {
        const path = join(SCREENS, `failed-dashboard-${who}.png`);
        await page.screenshot({ path, fullPage: true, timeout: 5000 });
        log(`screenshot ${path}`);
        log(`${who}: ${page.url()} ${await page.evaluate(() => document.body.innerText.slice(0, 1500)).catch(() => '')}`);
      } catch { /* page gone */ }
    }
    await fail(name, e, result);
    throw e;
  }
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** The creator's API call; `want` the statuses that count as success. */
async function must(method, path, body, { token = creator, want = [200, 201, 202, 204] } = {}) {
  const r = await api(base, method, path, token, body);
  check(want.includes(r.status), `${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

// ---- what the server offers ----------------------------------------------------------------

const doc = await must('GET', '/api/openapi.json', undefined, { token: null });
const has = (path, method) => !!(doc.paths[path] && doc.paths[path][method]);
const createShowSchema = JSON.stringify(doc.components.schemas.CreateShow || {});
const importParams = JSON.stringify((doc.paths['/api/products/import'] || {}).post || {});
const features = {
  cover: createShowSchema.includes('cover_url'),
  me_shows: has('/api/me/shows', 'get'),
  patch_show: has('/api/shows/{id}', 'patch'),
  cancel_show: has('/api/shows/{id}/cancel', 'post'),
  patch_product: has('/api/products/{id}', 'patch'),
  lineup_remove: has('/api/shows/{id}/lineup/{product_id}', 'delete'),
  import_dry_run: importParams.includes('dry_run'),
  product_search: JSON.stringify(((doc.paths['/api/products'] || {}).get || {}).parameters || []).includes('"q"'),
  me_orders: has('/api/me/orders', 'get'),
  orders_csv: has('/api/me/orders.csv', 'get'),
  webhook_test: has('/api/webhook/test', 'post'),
  deliveries: has('/api/webhook/deliveries', 'get'),
  moderators: has('/api/me/moderators', 'post'),
  terms: has('/api/me/terms', 'put'),
  patch_me: has('/api/me', 'patch'),
  signout: has('/api/me/signout', 'post'),
  passkeys: has('/api/me/passkeys', 'post') && has('/api/signin/passkey', 'post'),
  signin_page: !opts['signin-url'].includes('/dashboard#'),
  replay_stats: has('/api/shows/{id}/replay/stats', 'get'),
};
for (const [k, v] of Object.entries(features)) if (!v) result.missing.push(k);
log(`features: ${JSON.stringify(features)}`);
if (result.missing.length) log(`NOT ON THIS SERVER YET (their steps are skipped): ${result.missing.join(', ')}`);

// ---- looking at a page: screenshots, axe, no sideways scrolling -----------------------------

async function injectAxe(page) {
  const hasAxe = await page.evaluate(() => typeof window.axe === 'object' && !!window.axe.run);
  if (!hasAxe) await page.evaluate(AXE_SOURCE);
}

/** Elements wider than the screen at this size (none may be), and the page's scroll width. */
function overflowAt(page) {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (!r.width || !r.height) continue;
      // Not drawn at all (inside a closed <details>, say): nothing to scroll to.
      if (el.checkVisibility && !el.checkVisibility({ contentVisibilityAuto: true, visibilityProperty: true })) continue;
      if (r.right > width + 1 || r.left < -1) {
        const style = getComputedStyle(el);
        if (style.position === 'fixed' || el.closest('.skip, .sr-only, dialog:not([open])')) continue;
        wide.push(`${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''} (${Math.round(r.left)}–${Math.round(r.right)})`);
      }
    }
    return { scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 8) };
  });
}

/**
 * Photographs, audits and measures `page` as `name` at phone and desktop sizes, ending at
 * phone size again.
 */
async function look(page, name) {
  for (const [sizeName, size] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewportSize(size);
    // From the top: a full-page picture of a scrolled page draws the sticky nav mid-page.
    // Toasts that are still fading out would hide the page under them.
    const scrolled = await page.evaluate(() => {
      for (const t of document.querySelectorAll('#toasts .toast')) t.remove();
      const y = window.scrollY;
      window.scrollTo(0, 0);
      return y;
    });
    await sleep(300);
    const path = join(SCREENS, `dashboard-${name}-${size.width}x${size.height}.png`);
    await page.screenshot({ path, fullPage: true, timeout: 10000 });
    result.screenshots.push(path);
    if (sizeName === 'phone') {
      const o = await overflowAt(page);
      if (o.scroll > o.width || o.wide.length) {
        result.overflow.push({ page: name, ...o });
        log(`${name}@phone: SIDEWAYS SCROLL ${o.scroll} > ${o.width}: ${o.wide.join(' | ')}`);
      }
    }
    await injectAxe(page);
    const violations = await page.evaluate(async (tags) => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
      return r.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
        targets: v.nodes.slice(0, 6).map((n) => n.target.join(' ')),
        why: v.nodes[0] ? v.nodes[0].failureSummary.replace(/\s+/g, ' ').slice(0, 300) : '',
      }));
    }, TAGS);
    await page.evaluate((y) => window.scrollTo(0, y), scrolled);
    result.audited.push(`${name}@${sizeName}`);
    for (const v of violations) {
      const entry = { page: name, size: sizeName, ...v };
      (BLOCKING.has(v.impact) ? result.violations : result.minor).push(entry);
      log(`${name}@${sizeName}: ${v.impact} ${v.id} (${v.nodes}): ${v.targets.join(' | ')} — ${entry.why}`);
    }
  }
  await page.setViewportSize(PHONE);
  await sleep(150);
}

// ---- page helpers ---------------------------------------------------------------------------

/** Waits until the dashboard has nothing loading. */
function settled(page, what = 'the dashboard to settle') {
  return until(page, () => window.livesale && window.livesale.ready && window.livesale.busy === 0, null, what);
}

async function section(page, tab) {
  await page.click(`.dash-nav a[data-tab="${tab}"]`);
  await until(page, (t) => !document.querySelector(`#tab-${t}`).hidden
    && document.querySelector(`.dash-nav a[data-tab="${t}"]`).getAttribute('aria-current') === 'page', tab, `the ${tab} section`);
  await settled(page);
}

/** Presses Tab until `selector` has the focus; returns how many presses it took. */
async function tabTo(page, selector, what, max = 40, key = 'Tab') {
  for (let i = 1; i <= max; i += 1) {
    await page.keyboard.press(key);
    if (await page.evaluate((s) => !!document.activeElement && document.activeElement.matches(s), selector)) return i;
  }
  throw new Error(`Tab never reached ${what} (${selector}) in ${max} presses`);
}

/** The focused element's outline, to prove the focus is visible. */
function focusRing(page) {
  return page.evaluate(() => {
    const s = getComputedStyle(document.activeElement);
    return { style: s.outlineStyle, width: s.outlineWidth };
  });
}

function importCounts(page) {
  return page.evaluate(() => {
    const r = document.querySelector('#import-report');
    const n = (k) => Number(r.querySelector(`li[data-kind="${k}"]`).dataset.count);
    return {
      dry_run: r.dataset.dryRun === 'true',
      created: n('created'),
      updated: n('updated'),
      rejected: n('rejected'),
      rejected_lines: [...document.querySelectorAll('#import-rejected li')].map((li) => Number(li.dataset.line)),
      rejected_text: [...document.querySelectorAll('#import-rejected li')].map((li) => li.textContent),
    };
  });
}

function lineupIds(page) {
  return page.evaluate(() => [...document.querySelectorAll('#sd-lineup li')].map((li) => li.dataset.productId));
}

// ---- the journey ----------------------------------------------------------------------------

const browser = await step('launch chromium', () => launchBrowser('dashboard'));
const context = await step('a phone in New York', () => person(browser, base, 'creator', PHONE, {
  timezoneId: 'America/New_York',
  locale: 'en-US',
  acceptDownloads: true,
  permissions: ['camera', 'microphone', 'clipboard-read', 'clipboard-write'],
}));
await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base }).catch(() => {});
// Only loopback: the sample CSV's pictures live on Shopify's CDN, which this test never asks.
await context.route((url) => !['127.0.0.1', 'localhost'].includes(url.hostname), (route) => route.abort());

// A webhook receiver on loopback (the test server allows private webhook addresses).
const received = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    try { received.push(JSON.parse(body)); } catch { received.push({ raw: body }); }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok');
  });
});
await new Promise((r) => { receiver.listen(0, '127.0.0.1', r); });
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hooks/livesale`;

const page = await step('signed out: the dashboard says so and links to /signin', async () => {
  const p = await context.newPage();
  pages.creator = p;
  const res = await p.goto(`${base}/dashboard`, { waitUntil: 'load' });
  check(res.status() === 200, `GET /dashboard answered ${res.status()}`);
  await until(p, () => window.livesale && window.livesale.ready === true, null, 'the page to start');
  const gate = await p.evaluate(() => ({
    shown: !document.querySelector('#gate').hidden,
    app: !document.querySelector('#dash-app').hidden,
    text: document.querySelector('#gate-text').textContent,
    link: document.querySelector('#gate-signin').getAttribute('href'),
  }));
  check(gate.shown && !gate.app, `the gate is not shown: ${JSON.stringify(gate)}`);
  check(gate.link === '/signin', `the gate links to ${gate.link}`);
  await look(p, 'signed-out');
  return p;
});

await step('open the sign-in link', async () => {
  await page.goto(opts['signin-url'], { waitUntil: 'load' });
  await page.waitForURL(/\/dashboard/, { timeout: 15000 });
  await until(page, () => window.livesale && window.livesale.page === 'dashboard' && window.livesale.signedIn === true, null, 'the dashboard, signed in');
  await settled(page);
  const url = page.url();
  check(!url.includes('token='), `the token stayed in the address bar: ${url}`);
  const kept = await page.evaluate(() => localStorage.getItem('livesale:creator'));
  check(kept, 'no creator token kept in localStorage');
  const me = await must('GET', '/api/me', undefined, { token: kept });
  check(me.role === 'creator' && me.creator_id === creatorId, `the kept token is ${JSON.stringify(me)}`);
  const tab = await page.evaluate(() => document.body.dataset.tab);
  check(tab === 'shows', `opened on ${tab}`);
  return { url, name: me.name };
});

await step('the sections by keyboard, with a visible focus', async () => {
  await page.evaluate(() => { document.activeElement.blur(); window.scrollTo(0, 0); });
  await page.focus('body').catch(() => {});
  const presses = await tabTo(page, '.dash-nav a[data-tab="catalog"]', 'the Catalog tab');
  const ring = await focusRing(page);
  check(ring.style !== 'none' && ring.width !== '0px', `the focused tab has no visible outline: ${JSON.stringify(ring)}`);
  await page.keyboard.press('Enter');
  await until(page, () => !document.querySelector('#tab-catalog').hidden, null, 'Catalog by Enter');
  await settled(page);
  // The focus moves to the section's heading, so a screen reader says where the reader is.
  const focused = await page.evaluate(() => document.activeElement.id);
  check(focused === 'catalog-h', `after Enter the focus is on #${focused}`);
  const back = await tabTo(page, '.dash-nav a[data-tab="shows"]', 'the Shows tab', 10, 'Shift+Tab');
  await page.keyboard.press('Enter');
  await until(page, () => !document.querySelector('#tab-shows').hidden, null, 'Shows by Enter');
  await settled(page);
  return { presses_to_catalog: presses, shift_tabs_back: back, outline: ring };
});

await look(page, 'shows-empty');

let showId = null;
const START_LOCAL = '2027-03-05T19:30';
const START_UTC = '2027-03-06T00:30:00Z'; // New York is UTC-5 in early March
const coverUrl = `${base}/static/img/demo/mug.svg`;
await step('create and schedule a show', async () => {
  const sent = [];
  const onRequest = (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/shows')) sent.push(r.postDataJSON()); };
  page.on('request', onRequest);
  await page.click('#new-show-open');
  check(await page.evaluate(() => document.activeElement.id === 'ns-title'), 'the title field is not focused');
  await page.fill('#ns-title', 'Spring pottery drop');
  await page.fill('#ns-description', 'Mugs, bowls and a few seconds, live from the studio.');
  await page.fill('#ns-start', START_LOCAL);
  if (features.cover) await page.fill('#ns-cover', coverUrl);
  await look(page, 'shows-new');
  await page.click('#new-show-submit');
  await until(page, () => !document.querySelector('#show-detail').hidden && document.querySelector('#show-detail').dataset.showId
    && document.querySelector('#sd-title').textContent === 'Spring pottery drop', null, "the new show's panel");
  await settled(page);
  page.off('request', onRequest);
  showId = await page.evaluate(() => document.querySelector('#show-detail').dataset.showId);
  check(sent.length === 1, `${sent.length} POST /api/shows`);
  check(/-05:00$/.test(sent[0].scheduled_at), `scheduled_at was sent as ${sent[0].scheduled_at}, not with New York's offset`);
  const show = await must('GET', `/api/shows/${showId}`);
  check(show.title === 'Spring pottery drop' && show.status === 'scheduled', JSON.stringify(show));
  check(show.creator_id === creatorId, 'another creator owns it');
  check(Date.parse(show.scheduled_at) === Date.parse(START_UTC), `scheduled_at ${show.scheduled_at}, want ${START_UTC}`);
  if (features.cover) check(show.cover_url === coverUrl, `cover_url ${show.cover_url}`);
  const when = await page.textContent('#sd-when');
  check(when.includes('7:30') && when.includes('Mar'), `the panel says ${when}`);
  return { show: showId, sent: sent[0].scheduled_at, stored: show.scheduled_at };
});

await step('the show is listed under Upcoming', async () => {
  await page.click('#sd-back');
  await until(page, () => !document.querySelector('#shows-overview').hidden, null, 'the show list');
  await settled(page);
  await until(page, (id) => !!document.querySelector(`#shows-list [data-show-id="${id}"]`), showId, 'the show in the list');
  if (features.me_shows) {
    const mine = await must('GET', '/api/me/shows?when=upcoming');
    check(mine.items.some((s) => s.id === showId), 'GET /api/me/shows?when=upcoming misses it');
  }
  await look(page, 'shows');
});

let preview = null;
await step('import the sample CSV: preview, nothing saved', async () => {
  await section(page, 'catalog');
  await look(page, 'catalog-empty');
  if (!features.import_dry_run) {
    log('no dry run on this server: skipping the preview');
    return { skipped: true };
  }
  const types = [];
  const onResponse = (r) => { if (r.url().includes('/api/products/import')) types.push(r.headers()['content-type']); };
  page.on('response', onResponse);
  await page.setInputFiles('#import-file', opts.csv);
  await page.click('#import-preview');
  await until(page, () => !document.querySelector('#import-report').hidden
    && document.querySelector('#import-report').dataset.dryRun === 'true', null, 'the preview');
  page.off('response', onResponse);
  preview = await importCounts(page);
  check(preview.created > 0, `the preview creates nothing: ${JSON.stringify(preview)}`);
  const bar = await page.evaluate(() => {
    const p = document.querySelector('#import-progress');
    return { shown: !document.querySelector('#import-progress-box').hidden, value: p.value, max: p.max };
  });
  check(bar.shown && bar.value === bar.max, `the progress bar did not finish: ${JSON.stringify(bar)}`);
  check(types.some((t) => t && t.includes('application/x-ndjson')), `the import answered ${types.join(', ')}, not a stream`);
  const products = await must('GET', '/api/products');
  check(products.items.length === 0, `the preview saved ${products.items.length} products`);
  await look(page, 'catalog-preview');
  return { ...preview, content_type: types[0] };
});

await step('import the sample CSV: commit', async () => {
  if (preview) {
    const label = await page.textContent('#import-commit');
    check(label.includes(String(preview.created + preview.updated)), `the commit button says ${label}`);
    await page.click('#import-commit');
  } else {
    // Without a dry run the page cannot import (the server refuses the preview): the catalog
    // comes in through the API so the later steps still run; `missing` fails the test anyway.
    const res = await fetch(`${base}/api/products/import`, {
      method: 'POST', headers: { Authorization: `Bearer ${creator}`, 'Content-Type': 'text/csv' }, body: readFileSync(opts.csv),
    });
    check(res.status === 200, `the import through the API answered ${res.status}`);
    const r = await res.json();
    await page.reload({ waitUntil: 'load' });
    await settled(page);
    return { created: r.created.length, updated: r.updated.length, rejected: r.rejected.length, through: 'api' };
  }
  await until(page, () => !document.querySelector('#import-report').hidden
    && document.querySelector('#import-report').dataset.dryRun === 'false', null, 'the import report', 30000);
  await settled(page);
  const done = await importCounts(page);
  check(done.created === preview.created && done.updated === preview.updated && done.rejected === preview.rejected,
    `the import (${JSON.stringify(done)}) differs from its preview (${JSON.stringify(preview)})`);
  check(JSON.stringify(done.rejected_lines) === JSON.stringify(preview.rejected_lines), 'rejected lines differ');
  const products = await must('GET', '/api/products?limit=200');
  check(products.items.length === done.created, `${products.items.length} products, ${done.created} created`);
  await until(page, (n) => document.querySelectorAll('#products-list li.product').length === Math.min(n, 20), done.created, 'the product list');
  await look(page, 'catalog');
  return done;
});

await step('import again: an update and a rejected row, each with its line', async () => {
  if (!preview) return { skipped: true };
  const path = join(tmpdir(), `livesale-dashboard-reimport-${process.pid}.csv`);
  writeFileSync(path, 'Handle,Title,Variant SKU,Variant Price,Variant Inventory Qty\n'
    + 'merino-rib-beanie,Merino Rib-Knit Beanie,NLK-BEANIE-MUS,34.00,50\n'
    + 'broken-row,Broken thing,BAD-1,not-a-price,3\n');
  // The browser reads the file when it sends it: it stays until the step ends.
  onCleanup(() => rmSync(path, { force: true }));
  await page.setInputFiles('#import-file', path);
  await page.click('#import-preview');
  await until(page, () => !document.querySelector('#import-report').hidden
    && document.querySelector('#import-report').dataset.dryRun === 'true', null, 'the second preview');
  const again = await importCounts(page);
  check(again.created === 0 && again.updated === 1 && again.rejected === 1, `the preview says ${JSON.stringify(again)}`);
  check(again.rejected_lines[0] === 3 && /^Line 3: .{3,}/.test(again.rejected_text[0]), `the rejected row reads ${again.rejected_text[0]}`);
  const before = (await must('GET', '/api/products?q=NLK-BEANIE-MUS')).items[0];
  check(before.price.amount === 3200 && before.stock === 60, `the preview changed the product: ${JSON.stringify(before)}`);
  await look(page, 'catalog-preview-rejected');
  await page.click('#import-commit');
  await until(page, () => !document.querySelector('#import-report').hidden
    && document.querySelector('#import-report').dataset.dryRun === 'false', null, 'the second import');
  await settled(page);
  const after = (await must('GET', '/api/products?q=NLK-BEANIE-MUS')).items[0];
  check(after.id === before.id && after.price.amount === 3400 && after.stock === 50, `after the import: ${JSON.stringify(after)}`);
  const bad = await must('GET', '/api/products?q=BAD-1');
  check(bad.items.length === 0, 'the rejected row was saved');
  return { ...again, rejected_text: again.rejected_text[0] };
});

let edited = null;
await step('search the catalog and edit a product', async () => {
  if (!features.product_search) return { skipped: true };
  await page.fill('#product-q', 'beanie');
  await page.click('#product-search-submit');
  await settled(page);
  await until(page, () => {
    const rows = [...document.querySelectorAll('#products-list li.product')];
    return rows.length > 0 && rows.every((li) => /beanie/i.test(li.textContent));
  }, null, 'only beanies listed');
  const server = await must('GET', '/api/products?q=beanie');
  const shown = await page.evaluate(() => [...document.querySelectorAll('#products-list li.product')].map((li) => li.dataset.productId));
  check(server.items.length === shown.length && server.items.every((p) => shown.includes(p.id)),
    `the page lists ${shown.length}, the server ${server.items.length}`);
  if (!features.patch_product) return { skipped: 'edit', listed: shown.length };
  const id = shown[0];
  await page.click(`#products-list li[data-product-id="${id}"] .product-edit`);
  const form = `#products-list li[data-product-id="${id}"] form.product-form`;
  await page.fill(`${form} input[name="title"]`, 'Merino Beanie (edited)');
  await page.fill(`${form} input[name="price"]`, '29.50');
  await page.fill(`${form} input[name="stock"]`, '7');
  await look(page, 'catalog-edit');
  await page.click(`${form} .product-save`);
  await until(page, (pid) => {
    const li = document.querySelector(`#products-list li[data-product-id="${pid}"]`);
    return li && li.querySelector('.product-stock').dataset.stock === '7';
  }, id, 'the edited row');
  const p = await must('GET', `/api/products/${id}`);
  check(p.title === 'Merino Beanie (edited)' && p.stock === 7 && p.price.amount === 2950, `the product is ${JSON.stringify(p)}`);
  edited = id;
  return { product: id, stock: p.stock, price: p.price.amount };
});

let lineup = [];
await step('put two products in the lineup', async () => {
  await section(page, 'shows');
  await page.click(`#shows-list [data-show-id="${showId}"] a.dash-show-link`);
  await until(page, (id) => document.querySelector('#show-detail').dataset.showId === id && !document.querySelector('#show-detail').hidden, showId, 'the panel');
  await settled(page);
  for (let i = 1; i <= 3; i += 1) {
    const value = await page.evaluate(() => document.querySelector('#sd-lineup-product').value);
    check(value, 'no product to pick');
    await page.selectOption('#sd-lineup-product', value);
    await page.click('#sd-lineup-submit');
    await until(page, (n) => document.querySelectorAll('#sd-lineup li').length === n, i, `${i} products in the lineup`);
    if (i === 2 && !features.lineup_remove) break;
  }
  if (features.lineup_remove) {
    const ids = await lineupIds(page);
    await page.click(`#sd-lineup li[data-product-id="${ids[2]}"] .lineup-remove`);
    await until(page, () => document.querySelectorAll('#sd-lineup li').length === 2, null, 'the third one removed');
  }
  lineup = await lineupIds(page);
  const server = await must('GET', `/api/shows/${showId}/lineup`);
  check(JSON.stringify(server.products.map((p) => p.id)) === JSON.stringify(lineup), `lineup ${JSON.stringify(server.products.map((p) => p.id))} vs page ${JSON.stringify(lineup)}`);
  check(lineup.length === 2, `${lineup.length} products in the lineup`);
  return { lineup };
});

await step('copy the viewer link and show its QR code', async () => {
  await page.click('#sd-copy-viewer');
  await until(page, () => [...document.querySelectorAll('#toasts .toast')].some((t) => /copied|Ctrl\+C/.test(t.textContent)), null, 'the copy toast');
  const copied = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
  check(copied === `${base}/s/${showId}`, `the clipboard holds ${copied}`);
  await page.click('#sd-qr-toggle');
  await until(page, () => {
    const img = document.querySelector('#sd-qr');
    return !img.hidden && img.complete && img.naturalWidth > 0;
  }, null, 'the QR code');
  return { copied };
});

let moderatorToken = null;
await step('invite a moderator', async () => {
  await page.selectOption('#sd-invite-role', 'moderator');
  await page.fill('#sd-invite-label', 'Sam');
  await page.click('#sd-invite-submit');
  await until(page, () => !document.querySelector('#sd-invite-result').hidden, null, 'the invite link');
  const url = await page.getAttribute('#sd-invite-link', 'href');
  check(url.includes(`/moderate/${showId}#token=`), `the invite link is ${url}`);
  moderatorToken = decodeURIComponent(url.split('#token=')[1]);
  const me = await must('GET', '/api/me', undefined, { token: moderatorToken });
  check(me.role === 'moderator' && me.show_id === showId, `the invite is ${JSON.stringify(me)}`);
  await look(page, 'show');
  return { role: me.role, label: me.name };
});

await step('edit and cancel a second show', async () => {
  if (!features.patch_show || !features.cancel_show) return { skipped: true };
  await page.click('#sd-back');
  await settled(page);
  await page.click('#new-show-open');
  await page.fill('#ns-title', 'Rainy day sale');
  await page.fill('#ns-start', '2027-04-10T10:00');
  await page.click('#new-show-submit');
  await until(page, () => document.querySelector('#sd-title').textContent === 'Rainy day sale', null, 'the second show');
  await settled(page);
  const second = await page.evaluate(() => document.querySelector('#show-detail').dataset.showId);
  await page.fill('#se-title', 'Rainy day seconds sale');
  await page.fill('#se-start', '2027-04-11T11:15');
  await page.click('#sd-save');
  await until(page, () => document.querySelector('#sd-title').textContent === 'Rainy day seconds sale', null, 'the saved title');
  let s = await must('GET', `/api/shows/${second}`);
  check(s.title === 'Rainy day seconds sale', `title ${s.title}`);
  check(Date.parse(s.scheduled_at) === Date.parse('2027-04-11T15:15:00Z'), `scheduled_at ${s.scheduled_at} (EDT is UTC-4)`);
  await page.click('#sd-cancel-show');
  await until(page, () => document.querySelector('#confirm-dialog').open, null, 'the confirmation');
  await look(page, 'show-cancel-dialog');
  await page.click('#confirm-ok');
  await until(page, () => !document.querySelector('#confirm-dialog').open
    && document.querySelector('#show-detail').dataset.status === 'cancelled', null, 'the show cancelled');
  s = await must('GET', `/api/shows/${second}`);
  check(s.status === 'cancelled', `status ${s.status}`);
  const edit = await page.evaluate(() => document.querySelector('#sd-edit-box').hidden);
  check(edit, 'a cancelled show can still be edited on the page');
  await page.click('#sd-back');
  await settled(page);
  // An ended show (started and ended through the API), listed with its replay's stats.
  const ended = features.replay_stats ? (await must('POST', '/api/shows', { title: 'Winter seconds' })).id : null;
  if (ended) {
    await must('POST', `/api/shows/${ended}/start`, {});
    await must('POST', `/api/shows/${ended}/end`, {});
  }
  await page.click('.segmented [data-when="past"]');
  await until(page, (id) => !!document.querySelector(`#shows-list [data-show-id="${id}"][data-status="cancelled"]`), second, 'the cancelled show under Past');
  let replayLine = null;
  if (ended) {
    const line = `#shows-list [data-show-id="${ended}"] .dash-show-replay`;
    await until(page, (sel) => /^Replay:/.test((document.querySelector(sel) || {}).textContent || ''), line, 'the ended show\'s replay line');
    replayLine = await page.textContent(line);
    check(replayLine === 'Replay: 0 views · 0:00 watched · 0 sold (live 0)', `the replay line says ${replayLine}`);
    // Its panel offers the recording; this show recorded nothing (no camera), which is said.
    await page.goto(`${base}/dashboard#shows/${ended}`, { waitUntil: 'load' });
    await until(page, (id) => document.querySelector('#show-detail').dataset.showId === id, ended, 'the ended show\'s panel');
    check(await page.isVisible('#sd-recording'), 'the ended show offers its recording');
    check((await page.textContent('#sd-viewer')).trim() === 'Replay page', 'the ended show links its replay page');
    await page.click('#sd-recording');
    await until(page, () => /no recording of this show/.test(document.querySelector('#sd-error').textContent || ''), null, 'the missing recording said');
    await page.goto(`${base}/dashboard#shows`, { waitUntil: 'load' });
    await page.click('.segmented [data-when="past"]');
  }
  await look(page, 'shows-past');
  return { show: second, status: s.status, replay_line: replayLine };
});

await step('open the studio and go live', async () => {
  await page.goto(`${base}/dashboard#shows/${showId}`, { waitUntil: 'load' });
  await until(page, (id) => document.querySelector('#show-detail').dataset.showId === id, showId, 'the panel');
  await settled(page);
  const href = await page.getAttribute('#sd-studio', 'href');
  check(href === `/studio/${showId}`, `the studio link is ${href}`);
  await page.click('#sd-studio');
  await page.waitForURL(new RegExp(`/studio/${showId}$`), { timeout: 15000 });
  await until(page, () => window.livesale && window.livesale.page === 'studio' && window.livesale.ready, null, 'the studio');
  await until(page, () => document.body.dataset.conn === 'open', null, 'the studio room');
  await page.click('#go-live');
  await until(page, () => document.querySelector('#show-state').dataset.state === 'live', null, 'live');
  const s = await must('GET', `/api/shows/${showId}`);
  check(s.status === 'live', `status ${s.status}`);
  return { status: s.status };
});

let order = null;
await step('a viewer buys one', async () => {
  const joined = await must('POST', `/api/shows/${showId}/viewers`, { display_name: 'Ada' }, { token: null });
  await must('PUT', `/api/shows/${showId}/cart/items/${lineup[0]}`, { quantity: 1 }, { token: joined.token });
  const res = await fetch(`${base}/api/shows/${showId}/checkout`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${joined.token}`, 'Content-Type': 'application/json', 'Idempotency-Key': `dash-${Date.now()}` },
    body: JSON.stringify({
      email: 'ada@example.com',
      shipping: { name: 'Ada Lovelace', line1: '12 Analytical Row', city: 'London', postal_code: 'N1 9GU', country: 'GB' },
    }),
  });
  const body = await res.json();
  check(res.status === 201 && body.order.status === 'paid', `checkout answered ${res.status}: ${JSON.stringify(body)}`);
  order = body.order;
  return { order: order.id };
});

await step('find the order in the orders list', async () => {
  await page.goto(`${base}/dashboard#orders`, { waitUntil: 'load' });
  await until(page, () => window.livesale && window.livesale.signedIn && !document.querySelector('#tab-orders').hidden, null, 'the orders section');
  await settled(page);
  const sel = `#dash-orders li.order[data-order-id="${order.id}"]`;
  await until(page, (s) => !!document.querySelector(s), sel, 'the order row');
  const row = await page.evaluate((s) => {
    const li = document.querySelector(s);
    return {
      status: li.dataset.status, text: li.textContent,
      email: li.querySelector('.order-email') ? li.querySelector('.order-email').textContent : null,
      address: li.querySelector('.order-address') ? li.querySelector('.order-address').textContent : null,
    };
  }, sel);
  check(row.status === 'paid', `the row says ${row.status}`);
  check(row.text.includes('Spring pottery drop'), 'the row does not name its show');
  if (features.me_orders) {
    const mine = await must('GET', '/api/me/orders');
    const it = mine.items.find((o) => o.id === order.id);
    check(it && it.show_title === 'Spring pottery drop', `GET /api/me/orders: ${JSON.stringify(it)}`);
    check(it.email === 'ada@example.com', `the server kept the email as ${it.email}`);
    check(row.email === 'ada@example.com', `the row shows the email as ${row.email}`);
    check(row.address && row.address.includes('Analytical Row') && row.address.includes('London'), `the row shows the address as ${row.address}`);
  }
  // Filters: refunded hides it, paid and its show keep it.
  await page.selectOption('#orders-status', 'refunded');
  await settled(page);
  await until(page, (s) => !document.querySelector(s), sel, 'the order hidden by the refunded filter');
  await page.selectOption('#orders-status', 'paid');
  await until(page, (s) => !!document.querySelector(s), sel, 'the order back with the paid filter');
  await page.selectOption('#orders-show', showId);
  await settled(page);
  await until(page, (s) => !!document.querySelector(s), sel, 'the order with its show picked');
  await look(page, 'orders');
  return row;
});

await step('export the orders as CSV', async () => {
  if (!features.orders_csv) return { skipped: true };
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 15000 }),
    page.click('#orders-export'),
  ]);
  const name = download.suggestedFilename();
  const path = join(SCREENS, `dashboard-export-${name}`);
  await download.saveAs(path);
  const csv = readFileSync(path, 'utf8');
  check(/^orders-\d{4}-\d{2}-\d{2}\.csv$/.test(name), `the file is named ${name}`);
  check(csv.includes(order.id) && csv.includes('ada@example.com'), `the CSV misses the order: ${csv.slice(0, 400)}`);
  const server = await fetch(`${base}/api/me/orders.csv?status=paid&show=${showId}`, { headers: { Authorization: `Bearer ${creator}` } });
  const serverCsv = await server.text();
  check(serverCsv.trim().split('\n').length === csv.trim().split('\n').length, 'the page exported other rows than the server lists');
  return { file: name, lines: csv.trim().split('\n').length };
});

await step('refund the order', async () => {
  const sel = `#dash-orders li.order[data-order-id="${order.id}"]`;
  await page.selectOption('#orders-status', '');
  await settled(page);
  await page.click(`${sel} button.refund`);
  await until(page, () => document.querySelector('#confirm-dialog').open, null, 'the refund dialog');
  await look(page, 'orders-refund-dialog');
  await page.click('#confirm-ok');
  await until(page, (s) => document.querySelector(s) && document.querySelector(s).dataset.status === 'refunded', sel, 'the row refunded');
  const o = await must('GET', `/api/shows/${showId}/orders/${order.id}`);
  check(o.status === 'refunded', `the order is ${o.status}`);
  return { status: o.status };
});

await step('settings: display name', async () => {
  await section(page, 'settings');
  await look(page, 'settings');
  if (!features.patch_me) return { skipped: true };
  await page.fill('#display-name', 'Maya Studio');
  await page.click('#name-save');
  await until(page, () => document.querySelector('#name-status').textContent === 'Saved.', null, 'saved');
  const me = await must('GET', '/api/me');
  check(me.name === 'Maya Studio', `name ${me.name}`);
  return { name: me.name };
});

await step('settings: the webhook and a test event', async () => {
  await page.fill('#webhook-url', hookUrl);
  await page.click('#webhook-save');
  await until(page, () => !document.querySelector('#webhook-secret-box').hidden, null, 'the saved webhook');
  const hook = await must('GET', '/api/webhook');
  check(hook.url === hookUrl, `webhook ${hook.url}`);
  if (!features.webhook_test || !features.deliveries) return { skipped: 'test event' };
  await page.click('#webhook-test');
  await until(page, () => !!document.querySelector('#deliveries li.delivery[data-kind="test"][data-outcome="delivered"]'), null, 'the test delivery', 20000);
  check(received.length >= 1, 'the receiver got nothing');
  const d = await must('GET', '/api/webhook/deliveries');
  check(d.items.some((x) => x.kind === 'test' && x.outcome === 'delivered'), JSON.stringify(d.items));
  await look(page, 'settings-webhook');
  return { delivered: received.length };
});

await step('settings: moderators and blocked terms for all shows', async () => {
  if (!features.moderators || !features.terms) return { skipped: true };
  await page.fill('#mod-label', 'Ria');
  await page.click('#mod-add');
  await until(page, () => !document.querySelector('#mod-new').hidden && document.querySelectorAll('#mods-list li[data-moderator-id]').length === 1, null, 'the new moderator');
  const mods = await must('GET', '/api/me/moderators');
  check(mods.items.length === 1 && mods.items[0].label === 'Ria', JSON.stringify(mods));
  await page.fill('#terms', 'spoiler\nscam link');
  await page.click('#terms-save');
  await until(page, () => /Saved/.test(document.querySelector('#terms-status').textContent), null, 'the terms saved');
  const terms = await must('GET', '/api/me/terms');
  check(JSON.stringify([...terms.terms].sort()) === JSON.stringify(['scam link', 'spoiler']), JSON.stringify(terms));
  await look(page, 'settings-moderators');
  return { moderators: mods.items.length, terms: terms.terms };
});

let authenticator = null;
await step('settings: add a passkey (a virtual authenticator)', async () => {
  if (!features.passkeys) return { skipped: true };
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  authenticator = { cdp, id: authenticatorId };
  await page.fill('#passkey-label', 'Test phone');
  await page.click('#passkey-add');
  await until(page, () => document.querySelectorAll('#passkeys li[data-passkey-id]').length === 1, null, 'the passkey listed', 20000);
  const keys = await must('GET', '/api/me/passkeys');
  check(keys.items.length === 1 && keys.items[0].label === 'Test phone', JSON.stringify(keys));
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(credentials.length === 1 && credentials[0].isResidentCredential, `the authenticator holds ${JSON.stringify(credentials)}`);
  await look(page, 'settings-passkey');
  return { passkeys: keys.items.length };
});

await step('sign out everywhere', async () => {
  if (!features.signout) return { skipped: true };
  const kept = await page.evaluate(() => localStorage.getItem('livesale:creator'));
  await page.click('#signout-everywhere');
  await until(page, () => document.querySelector('#confirm-dialog').open, null, 'the confirmation');
  await page.click('#confirm-ok');
  await until(page, () => !document.querySelector('#gate').hidden, null, 'the signed-out page');
  const after = await page.evaluate(() => localStorage.getItem('livesale:creator'));
  check(after === null, 'the token is still kept');
  const r = await api(base, 'GET', '/api/me', kept);
  check(r.status === 401, `the old token answers ${r.status}`);
  await page.reload({ waitUntil: 'load' });
  await until(page, () => window.livesale && window.livesale.ready && !document.querySelector('#gate').hidden, null, 'still signed out after a reload');
  return { old_token: r.status };
});

await step('sign in again with the passkey, without a link', async () => {
  if (!features.passkeys || !features.signout || !features.signin_page) return { skipped: true };
  await page.click('#gate-signin');
  await page.waitForURL(/\/signin/, { timeout: 10000 });
  await until(page, () => { const b = document.querySelector('#passkey-signin'); return b && b.offsetParent !== null; }, null, 'the passkey button');
  await page.click('#passkey-signin');
  await page.waitForURL(/\/dashboard/, { timeout: 15000 });
  await until(page, () => window.livesale && window.livesale.page === 'dashboard' && window.livesale.signedIn === true, null, 'the dashboard, signed in again');
  const kept = await page.evaluate(() => localStorage.getItem('livesale:creator'));
  const me = await must('GET', '/api/me', undefined, { token: kept });
  check(me.creator_id === creatorId, `signed in as ${JSON.stringify(me)}`);
  const shows = await must('GET', `/api/shows/${showId}/orders`, undefined, { token: kept });
  check(shows.orders.some((o) => o.id === order.id), 'the new sign-in cannot read the orders');
  return { signed_in: true };
});

receiver.close();
const ok = result.violations.length === 0 && result.overflow.length === 0 && existsSync(SCREENS);
if (!ok) {
  log(`FAILED: ${result.violations.length} serious or critical accessibility violations, ${result.overflow.length} pages scrolling sideways`);
}
await finish({
  ok, ...result, features, show: showId, order: order && order.id, edited,
  ...(ok ? {} : { failed_step: 'audit', error: 'accessibility violations or sideways scrolling (see violations, overflow)' }),
});
