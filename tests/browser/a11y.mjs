#!/usr/bin/env node
// An accessibility audit of every page in its meaningful states, with axe-core (WCAG 2.0 A and
// AA, WCAG 2.1 AA rules), at phone and desktop sizes, plus a keyboard-only pass over the viewer
// page. Runs against a livesale server whose show is scheduled and has three products in its
// lineup (tests/browser_apps/main.rs, Fixture::new(false)); tests/browser_apps/a11y.rs runs it.
//
//   node tests/browser/a11y.mjs --base URL --show ID --creator-token T --moderator-token T \
//     --product ID --product ID --product ID [--deadline-ms N]
//
// The states audited: the viewer page while the show is scheduled; the studio live with this
// computer's (fake) camera and a phone camera link with its QR code, then with a paid order in
// its order list and with the refund dialog open; the home page with live, upcoming and ended
// shows; the phone camera page before it starts and on air; the viewer page live with a pinned
// deal and chat (Hebrew and Arabic names and text included), its cart drawer open; the
// moderator desk with a held message and audit entries; an auction (the viewer's card, its
// max-bid sheet, the studio's panel); the viewer page once ended, and opened anew (the replay's
// page).
//
// Keyboard only, on the viewer page: Tab reaches the chat input, the reaction buttons, the deal's
// add-to-cart button and the cart button; Enter/Space send the chat (after the name form),
// react, add to the cart and open the drawer; Esc closes it and focus returns to the cart button.
//
// Every violation is reported (`violations`, by page, size and rule, with its targets); the run
// fails when any is of impact serious or critical. Prints one JSON line (see lib.mjs).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import {
  api, artifact, finish, launchBrowser, log, person, scenario, sleep, until, PHONE, DESKTOP,
} from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');
const AXE_SOURCE = readFileSync(AXE_PATH, 'utf8');
const AXE_VERSION = require('axe-core/package.json').version;
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21aa'];
const BLOCKING = new Set(['serious', 'critical']);

const { base, show, creator, opts, state, pages, step } = await scenario('a11y', {},
  { required: ['moderator-token'], deadlineMs: 280000 });
const moderatorToken = opts['moderator-token'];
const products = opts.product;
const result = state.partial;
result.axe = AXE_VERSION;
result.audited = [];
result.violations = []; // serious and critical
result.minor = []; // moderate and minor: reported, not failing
result.keyboard = {};

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function must(method, path, token, body, want = [200, 201, 204]) {
  const r = await api(base, method, path, token, body);
  check(want.includes(r.status), `${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** axe-core in the page (evaluated, so no Content-Security-Policy can refuse it). */
async function injectAxe(page) {
  const has = await page.evaluate(() => typeof window.axe === 'object' && !!window.axe.run);
  if (!has) await page.evaluate(AXE_SOURCE);
}

/**
 * Audits `page` as `name` at phone and desktop sizes (restoring its size after): every
 * violation goes in the result, grouped by rule, with up to six targets each.
 */
async function audit(page, name) {
  const before = page.viewportSize();
  for (const [sizeName, size] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewportSize(size);
    await sleep(350); // layout, transitions
    await artifact(page, `a11y-${name}`).catch((e) => log(`screenshot ${name}: ${e.message}`));
    await injectAxe(page);
    const { violations, passes, review } = await page.evaluate(async (tags) => {
      const r = await window.axe.run(document, {
        runOnly: { type: 'tag', values: tags },
        resultTypes: ['violations', 'incomplete'],
      });
      // Contrast axe could not decide (text over video or images) is logged for a human.
      const review = r.incomplete.filter((v) => v.id === 'color-contrast')
        .flatMap((v) => v.nodes.map((n) => n.target.join(' ')));
      return { passes: r.passes.length, review, violations: r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.length,
        targets: v.nodes.slice(0, 6).map((n) => n.target.join(' ')),
        why: v.nodes[0] ? v.nodes[0].failureSummary.replace(/\s+/g, ' ').slice(0, 300) : '',
      })) };
    }, TAGS);
    result.audited.push(`${name}@${sizeName}`);
    result.rules_passed = (result.rules_passed || 0) + passes;
    if (review.length) log(`${name}@${sizeName}: contrast to check by eye: ${review.slice(0, 8).join(' | ')}`);
    for (const v of violations) {
      const entry = { page: name, size: sizeName, ...v };
      (BLOCKING.has(v.impact) ? result.violations : result.minor).push(entry);
      log(`${name}@${sizeName}: ${v.impact} ${v.id} (${v.nodes}): ${v.targets.join(' | ')} — ${entry.why}`);
    }
    if (!violations.length) log(`${name}@${sizeName}: no violations (${passes} rules passed)`);
  }
  if (before) await page.setViewportSize(before);
}

async function open(ctx, label, path, { conn = true } = {}) {
  const page = await ctx.newPage();
  pages[label] = page;
  const res = await page.goto(`${base}${path}`, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET ${path} answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready === true, null, `${label}: window.livesale.ready`);
  if (conn) await until(page, () => document.body.dataset.conn === 'open', null, `${label}: the live room to open`);
  return page;
}

/** A WebSocket chat client of a guest named `name`, living in `host` as window.C[key]. */
async function chatter(host, key, name) {
  const j = await must('POST', `/api/shows/${show}/viewers`, null, { display_name: name });
  const url = `${base.replace(/^http/, 'ws')}/api/shows/${show}/ws?v=1&token=${encodeURIComponent(j.token)}`;
  await host.evaluate(({ key, url }) => new Promise((resolve, reject) => {
    window.C = window.C || {};
    const c = { frames: [], ws: new WebSocket(url) };
    c.ws.onmessage = (e) => c.frames.push(JSON.parse(e.data));
    c.ws.onopen = () => resolve();
    c.ws.onerror = () => reject(new Error('websocket error'));
    window.C[key] = c;
  }), { key, url });
  await until(host, (k) => window.C[k].frames.some((f) => f.type === 'welcome'), key, `${name}'s welcome`);
  return { key, id: j.viewer_id, token: j.token };
}

function say(host, who, text) {
  return host.evaluate(({ key, text }) => window.C[key].ws.send(JSON.stringify({ type: 'chat.send', text })),
    { key: who.key, text });
}

/** Presses Tab until `selector` (in the page) has the focus; returns how many presses it took. */
async function tabTo(page, selector, what, max = 80) {
  for (let i = 1; i <= max; i += 1) {
    await page.keyboard.press('Tab');
    const hit = await page.evaluate((s) => !!document.activeElement && document.activeElement.matches(s), selector);
    if (hit) return i;
  }
  const at = await page.evaluate(() => {
    const a = document.activeElement;
    return a ? `${a.tagName.toLowerCase()}#${a.id}.${[...a.classList].join('.')}` : 'nothing';
  });
  throw new Error(`Tab never reached ${what} (${selector}) in ${max} presses; focus is on ${at}`);
}

/** Focus back at the top of the page, as a fresh keyboard user would start. */
async function fromTop(page) {
  await page.evaluate(() => {
    document.activeElement && document.activeElement.blur && document.activeElement.blur();
    window.scrollTo(0, 0);
  });
  await page.focus('body').catch(() => {});
}

// ---- set up ---------------------------------------------------------------------------------

const browser = await step('launch chromium', () => launchBrowser('a11y'));

await step('more shows for the home page (upcoming in Hebrew, ended)', async () => {
  const at = new Date(Date.now() + 2 * 86400000).toISOString();
  await must('POST', '/api/shows', creator, { title: 'מכירת חורף', scheduled_at: at });
  const past = await must('POST', '/api/shows', creator, { title: 'Seconds sale' });
  for (const action of ['start', 'end']) await must('POST', `/api/shows/${past.id}/${action}`, creator, {});
});

const phoneViewerCtx = await step('viewer context (phone)', () => person(browser, base, 'viewer', PHONE));
const viewer = await step('viewer page, scheduled', async () => {
  const page = await open(phoneViewerCtx, 'viewer', `/s/${show}`);
  const st = await page.getAttribute('#show-state', 'data-state');
  check(st === 'scheduled', `#show-state is ${st}`);
  return page;
});
await step('audit: viewer scheduled', () => audit(viewer, 'viewer-scheduled'));

// ---- studio -----------------------------------------------------------------------------------

const studioCtx = await step('creator context', () => person(browser, base, 'studio', DESKTOP));
const studio = await step('studio: go live', async () => {
  const page = await open(studioCtx, 'studio', `/studio/${show}#token=${creator}`);
  await audit(page, 'studio-scheduled');
  await page.click('#go-live');
  await until(page, () => document.querySelector('#show-state').dataset.state === 'live', null, 'the studio to be live');
  return page;
});

const laptopId = await step('studio: the laptop camera', async () => {
  await studio.click('#laptop-camera');
  const id = await until(studio, () => {
    const t = document.querySelector('#camera-grid .camera-tile.local');
    return t && t.dataset.cameraId;
  }, null, 'the laptop tile', 20000);
  await until(studio, (i) => {
    const v = document.querySelector(`#camera-grid .camera-tile[data-camera-id="${i}"] video`);
    return v && v.videoWidth > 0;
  }, id, 'the laptop preview to play', 20000);
  return id;
});

const invite = await step('studio: a phone camera link and QR', async () => {
  await studio.click('#add-phone');
  const href = await until(studio, () => {
    const a = document.querySelector('#camera-link');
    return a && !document.querySelector('#phone-invite').hidden && a.href.includes('/camera/') && a.href;
  }, null, 'the camera link');
  await until(studio, () => {
    const img = document.querySelector('#camera-qr');
    return img && !img.hidden && img.complete && img.naturalWidth > 50;
  }, null, 'the QR image');
  return href;
});
await step('audit: studio live with a camera and the camera link', () => audit(studio, 'studio-live'));

// ---- home -------------------------------------------------------------------------------------

await step('audit: home with live, upcoming and ended shows', async () => {
  const ctx = await person(browser, base, 'home', DESKTOP);
  const page = await open(ctx, 'home', '/', { conn: false });
  const n = await page.evaluate(() => document.querySelectorAll('.shows li.show').length);
  check(n >= 3, `the home page lists ${n} shows`);
  await audit(page, 'home');
  await page.close();
  delete pages.home;
});

// ---- the phone camera -------------------------------------------------------------------------

const phoneCtx = await step('phone context', () => person(browser, base, 'phone', PHONE));
const phone = await step('camera page before start', async () => {
  const page = await phoneCtx.newPage();
  pages.phone = page;
  const res = await page.goto(invite, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET camera page answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready === true, null, 'the camera page ready');
  await until(page, () => document.body.dataset.conn === 'open' && window.livesale.cameraId, null, 'the tally room');
  return page;
});
await step('audit: camera before start', () => audit(phone, 'camera-before-start'));

await step('camera: start and go on air', async () => {
  await phone.click('#start');
  await until(phone, () => /live to the studio/i.test(document.querySelector('#camera-status').textContent),
    null, '#camera-status to say it is sending', 25000);
  const id = await phone.evaluate(() => window.livesale.cameraId);
  const sel = `#camera-grid .camera-tile[data-camera-id="${id}"] .take`;
  await until(studio, (s) => !!document.querySelector(s), sel, 'the phone tile in the studio', 20000);
  await studio.click(sel);
  await until(phone, () => document.querySelector('#tally').classList.contains('on-air'), null, 'the tally ON AIR', 10000);
});
await step('audit: camera on air', () => audit(phone, 'camera-on-air'));
await step('audit: studio with two cameras, the phone on air', () => audit(studio, 'studio-two-cameras'));

await step('studio: a paid order in the list, then its refund dialog', async () => {
  // A buyer through the API (the built-in test payments pay at checkout); nothing is refunded.
  const buyer = await must('POST', `/api/shows/${show}/viewers`, null, { display_name: 'Ada' });
  await must('PUT', `/api/shows/${show}/cart/items/${products[2]}`, buyer.token, { quantity: 1 });
  const res = await fetch(`${base}/api/shows/${show}/checkout`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${buyer.token}`, 'Idempotency-Key': `a11y-${Date.now()}` },
  });
  check(res.status === 201, `checkout answered ${res.status}`);
  await until(studio, () => !!document.querySelector('#orders-list li.order[data-status="paid"] button.refund'), null,
    'the paid order in the studio list');
  await audit(studio, 'studio-orders');
  await studio.click('#orders-list li.order button.refund');
  await until(studio, () => document.querySelector('#refund-dialog').open, null, 'the refund dialog');
  await audit(studio, 'studio-refund-dialog');
  await studio.keyboard.press('Escape');
  await until(studio, () => !document.querySelector('#refund-dialog').open, null, 'Esc to close the refund dialog');
});

// ---- the viewer, live ---------------------------------------------------------------------------

const host = await step('chat clients (Hebrew and Arabic names)', async () => {
  const ctx = await person(browser, base, 'chatters', DESKTOP);
  const page = await ctx.newPage();
  await page.goto(`${base}/healthz`);
  return page;
});
const omar = await step('a pinned deal and chat, right-to-left included', async () => {
  await must('POST', `/api/shows/${show}/pins`, creator, {
    product_id: products[0],
    deal: { price: 1250, quantity: 10, per_buyer_limit: 3, duration_s: 600 },
  });
  await must('POST', `/api/shows/${show}/pins`, creator, { product_id: products[1] });
  const dana = await chatter(host, 'dana', 'Dana');
  const o = await chatter(host, 'omar', 'عمر');
  const noa = await chatter(host, 'noa', 'נועה');
  await say(host, dana, 'Is the blue one still available? <b>bold?</b>');
  await say(host, o, 'مرحبا بالجميع، هل الكوب متوفر؟');
  await say(host, noa, 'הקערה נראית מדהים!');
  await until(viewer, () => document.querySelectorAll('#chat-list .msg').length >= 3, null, 'three messages on the viewer page');
  await until(viewer, () => document.querySelectorAll('#pins .pin-card').length === 2, null, 'two pin cards');
  return o;
});
await step('audit: viewer live with a deal and chat', () => audit(viewer, 'viewer-live'));

// Keyboard only, at desktop size, in a context of its own (a fresh guest).
const kb = await step('keyboard: open the viewer page', async () => {
  const ctx = await person(browser, base, 'keyboard', DESKTOP);
  const page = await open(ctx, 'keyboard', `/s/${show}`);
  await until(page, () => document.querySelectorAll('#pins .pin-card .add-to-cart').length === 2, null, 'the pin cards');
  return page;
});

await step('keyboard: Tab to the chat, Enter sends (after the name form)', async () => {
  await fromTop(kb);
  const presses = await tabTo(kb, '#chat-input', 'the chat input');
  const text = `Typed with the keyboard ${Date.now()}`;
  await kb.keyboard.type(text);
  await kb.keyboard.press('Enter');
  // A guest is asked for a name first; the form takes the focus.
  await until(kb, () => document.activeElement && document.activeElement.id === 'display-name', null,
    'the name field to take the focus');
  await kb.keyboard.type('Keyboard Kim');
  await kb.keyboard.press('Enter');
  await until(kb, (t) => [...document.querySelectorAll('#chat-list .msg')].some((m) =>
    m.querySelector('.text').textContent === t && m.querySelector('.who').textContent === 'Keyboard Kim'),
  text, 'the message sent from the keyboard');
  const back = await kb.evaluate(() => document.activeElement && document.activeElement.id);
  check(back === 'chat-input', `focus went to #${back} after sending, not back to the chat input`);
  // A second message: Enter alone sends now.
  await kb.keyboard.type('and again');
  await kb.keyboard.press('Enter');
  await until(kb, () => [...document.querySelectorAll('#chat-list .msg .text')].some((m) => m.textContent === 'and again'),
    null, 'the second message');
  result.keyboard.chat = { tabs: presses };
});

await step('keyboard: Tab to the reactions, Space and Enter react', async () => {
  const before = await host.evaluate(() => window.C.dana.frames.filter((f) => f.type === 'reactions').length);
  await fromTop(kb);
  const presses = await tabTo(kb, '.react-btn', 'a reaction button');
  const first = await kb.evaluate(() => document.activeElement.dataset.kind);
  await kb.keyboard.press('Space');
  await until(kb, () => document.activeElement.classList.contains('tapped'), null, 'the reaction pressed with Space');
  await kb.keyboard.press('Tab');
  const second = await kb.evaluate(() => document.activeElement.matches('.react-btn') && document.activeElement.dataset.kind);
  check(second, 'Tab from one reaction button does not reach the next');
  await kb.keyboard.press('Enter');
  await until(kb, () => document.activeElement.classList.contains('tapped'), null, 'the reaction pressed with Enter');
  // The server counted them: another viewer gets a reactions frame.
  await until(host, (n) => window.C.dana.frames.filter((f) => f.type === 'reactions').length > n, before,
    'a reactions frame at another viewer', 8000);
  result.keyboard.reactions = { tabs: presses, kinds: [first, second] };
});

await step('keyboard: Tab to the deal\'s add-to-cart, Enter adds', async () => {
  await fromTop(kb);
  const sel = `#pins .pin-card[data-product-id="${products[0]}"] .add-to-cart`;
  const presses = await tabTo(kb, sel, 'the deal\'s add-to-cart button');
  await kb.keyboard.press('Enter');
  await until(kb, () => document.querySelector('#cart-count').textContent.trim() === '1', null, '#cart-count to be 1');
  // Space adds another.
  await kb.keyboard.press('Space');
  await until(kb, () => document.querySelector('#cart-count').textContent.trim() === '2', null, '#cart-count to be 2');
  result.keyboard.add_to_cart = { tabs: presses };
});

await step('keyboard: the cart drawer opens with Enter, Esc closes it, focus returns', async () => {
  await fromTop(kb);
  const presses = await tabTo(kb, '#cart-button', 'the cart button');
  // The drawer reads the cart again as it opens. Here that answer is held back until the
  // keyboard has moved onto a line's buttons, and drawing the lines anew must keep the focus.
  let lateCarts = 0;
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await kb.route('**/cart', async (route) => {
    if (route.request().method() === 'GET') { lateCarts += 1; await held; }
    await route.continue();
  });
  const answered = kb.waitForResponse((r) => r.request().method() === 'GET' && r.url().endsWith('/cart'),
    { timeout: 20000 });
  answered.catch(() => {}); // awaited below; a step that fails earlier must not leave it unhandled
  await kb.keyboard.press('Enter');
  await until(kb, () => !document.querySelector('#cart-drawer').hidden
    && document.querySelector('#cart-drawer').contains(document.activeElement), null, 'the drawer open with the focus in it');
  await until(kb, () => document.querySelectorAll('#cart-drawer .cart-item').length === 1, null, 'the cart line');
  // Tab stays in the drawer (8 presses: the last lands on a line's "+").
  for (let i = 0; i < 8; i += 1) {
    await kb.keyboard.press('Tab');
    const inside = await kb.evaluate(() => document.querySelector('#cart-drawer').contains(document.activeElement));
    check(inside, `Tab #${i + 1} left the open drawer`);
  }
  const before = await kb.evaluate(() => {
    window.__lineBefore = document.querySelector('#cart-drawer .cart-item');
    return document.activeElement.className;
  });
  for (let waited = 0; lateCarts === 0 && waited < 10000; waited += 100) await sleep(100);
  check(lateCarts > 0, 'the drawer did not read the cart as it opened');
  release();
  await answered;
  await until(kb, () => !document.contains(window.__lineBefore), null, 'the lines drawn anew from the late answer');
  await kb.unroute('**/cart');
  const after = await kb.evaluate(() => document.querySelector('#cart-drawer').contains(document.activeElement)
    && document.activeElement.className);
  check(after === before, `the late cart answer moved the focus from .${before} to ${after || 'outside the drawer'}`);
  await audit(kb, 'viewer-cart-open');
  await kb.keyboard.press('Escape');
  await until(kb, () => document.querySelector('#cart-drawer').hidden, null, 'the drawer to close on Esc');
  const focus = await kb.evaluate(() => document.activeElement && document.activeElement.id);
  check(focus === 'cart-button', `focus is on #${focus} after Esc, not on the cart button`);
  // Space opens it too.
  await kb.keyboard.press('Space');
  await until(kb, () => !document.querySelector('#cart-drawer').hidden, null, 'the drawer to open on Space');
  await kb.keyboard.press('Escape');
  await until(kb, () => document.querySelector('#cart-drawer').hidden && document.activeElement.id === 'cart-button',
    null, 'the drawer closed and the focus back');
  result.keyboard.cart = { tabs: presses, focus_returned: true };
});

// ---- the moderator desk -------------------------------------------------------------------------

const desk = await step('moderator desk with a held message and audit entries', async () => {
  await must('POST', `/api/shows/${show}/moderation`, creator, { type: 'mod.terms', add: ['scam'] });
  const eve = await chatter(host, 'eve', 'Eve');
  await say(host, eve, 'cheap scam followers here');
  await say(host, eve, 'delete me please');
  const msgId = await until(host, () => {
    const f = window.C.dana.frames.find((x) => x.type === 'chat.message' && x.text === 'delete me please');
    return f && f.id;
  }, null, 'the message to delete');
  await must('POST', `/api/shows/${show}/moderation`, creator, { type: 'mod.delete', message_id: msgId });
  await must('POST', `/api/shows/${show}/moderation`, creator, {
    type: 'mod.timeout', viewer_id: omar.id, seconds: 60, reason: 'تكرار',
  });
  const ctx = await person(browser, base, 'desk', DESKTOP);
  const page = await open(ctx, 'desk', `/moderate/${show}#token=${encodeURIComponent(moderatorToken)}`);
  await until(page, () => document.querySelectorAll('#held-list li[data-id]').length >= 1, null, 'the held message');
  await until(page, () => document.querySelectorAll('#audit-list li').length >= 2, null, 'audit entries');
  await until(page, () => document.querySelectorAll('#terms-list li').length >= 1, null, 'the blocked term');
  return page;
});
await step('audit: moderator desk', () => audit(desk, 'moderate'));

await step('audit: moderator desk, the timeout dialog open', async () => {
  const row = desk.locator('#chat-list li.msg', { has: desk.locator('.text', { hasText: 'Is the blue one' }) });
  await row.locator('.mod-timeout').click();
  await desk.locator('#action-dialog[open]').waitFor({ timeout: 5000 });
  await audit(desk, 'moderate-dialog');
  await desk.keyboard.press('Escape');
  await until(desk, () => !document.querySelector('#action-dialog').open, null, 'the dialog to close');
});

// ---- an auction -------------------------------------------------------------------------------

await step('audit: an auction on the viewer page (the card, the max-bid sheet) and the studio', async () => {
  const lot = await must('POST', `/api/shows/${show}/auctions`, creator, {
    product_id: products[1], start_price: { amount: 1000, currency: 'USD' }, duration_s: 600, mode: 'soft_close',
  });
  const shown = (id) => {
    const c = document.querySelector('#auction');
    return !c.hidden && c.dataset.auctionId === id && c.dataset.status === 'open' && !document.querySelector('#bid-button').hidden;
  };
  await until(viewer, shown, lot.id, 'the auction card');
  await audit(viewer, 'viewer-auction');
  // A named viewer's sheet (a guest would be asked for a name first).
  await until(kb, shown, lot.id, 'the auction card (keyboard viewer)');
  await kb.click('#max-button');
  await until(kb, () => document.querySelector('#max-sheet').open, null, 'the max-bid sheet');
  await audit(kb, 'viewer-max-sheet');
  await kb.keyboard.press('Escape');
  await until(kb, () => !document.querySelector('#max-sheet').open && document.activeElement.id === 'max-button',
    null, 'Esc to close the sheet and the focus back on its button');
  await until(studio, (id) => document.querySelector('#auction-now').dataset.auctionId === id, lot.id, 'the studio\'s lot');
  await audit(studio, 'studio-auction');
  await must('POST', `/api/shows/${show}/auctions/${lot.id}/close`, creator, {});
  await until(viewer, () => document.querySelector('#auction').dataset.status === 'closed', null, 'the card to say it ended');
});

// ---- ended --------------------------------------------------------------------------------------

await step('audit: viewer once the show ended', async () => {
  await must('POST', `/api/shows/${show}/end`, creator, {});
  await until(viewer, () => document.querySelector('#show-state').dataset.state === 'ended', null, 'the viewer page to say ended');
  await audit(viewer, 'viewer-ended');
});

await step('audit: the viewer page of the ended show, opened anew (its replay, or "no replay")', async () => {
  await viewer.reload();
  await until(viewer, () => ['none', 'ready'].includes(document.querySelector('#viewer').dataset.replay), null, 'the replay page to settle', 30000);
  await audit(viewer, 'viewer-replay');
});

await step('no serious or critical violations', () => {
  const lines = result.violations.map((v) => `${v.page}@${v.size}: ${v.impact} ${v.id} — ${v.help}: ${v.targets.join(' | ')}`);
  check(lines.length === 0, `${lines.length} serious or critical violations:\n${lines.join('\n')}`);
  return { audited: result.audited.length };
});

await finish({ ok: true, ...result });
