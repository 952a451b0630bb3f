#!/usr/bin/env node
// The studio (/studio/{show}) and a phone camera (/camera/{invite}) in headless Chromium with
// Chromium's fake camera, against a running livesale server whose show is scheduled and has
// three products in its lineup (tests/browser_apps/main.rs, Fixture::new(false)).
//
//   node tests/browser/studio.mjs --base URL --show ID --creator-token T --moderator-token T \
//     --product ID --product ID --product ID [--tally-bound-ms 5000] [--deadline-ms 200000]
//
// The creator (desktop size) goes live, starts this computer's camera (its tile plays), makes a
// phone camera link (link and QR image); a phone (phone size) opens the link and starts; its
// tile plays in the studio; Take on the phone → tile on air and the phone's tally ON AIR, Take
// on the laptop → the phone's tally off; a deal from the deal form (client validation, a
// refusal shown as a message); a purchase through the API moves the orders and revenue; a
// viewer's chat message appears and the inline delete removes it for everyone; the creator
// chats; screenshots at phone and desktop sizes; the show ends after a confirmation.
//
// Prints one JSON line on stdout (see lib.mjs); tests/browser_apps/studio.rs asserts on it.

import {
  api, finish, launchBrowser, log, person, artifactsAtBothSizes, scenario, until, sleep, PHONE,
  DESKTOP,
} from './lib.mjs';

const { opts, base, show, creator, products, state, pages, step } = await scenario('studio', {
  'tally-bound-ms': { type: 'string', default: '5000' },
});
const TALLY_BOUND = Number(opts['tally-bound-ms']);
const result = state.partial;

function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** Waits until the <video> matched by `selector` has a picture, then measures that its frames advance. */
async function framesAdvance(page, selector, what, timeout = 20000) {
  await until(page, (sel) => {
    const v = document.querySelector(sel);
    return !!(v && v.videoWidth > 0 && v.readyState >= 2);
  }, selector, `${what} to show a picture`, timeout);
  const sample = () => page.evaluate((sel) => {
    const v = document.querySelector(sel);
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : { totalVideoFrames: 0 };
    return { t: v.currentTime, frames: q.totalVideoFrames, w: v.videoWidth, h: v.videoHeight };
  }, selector);
  const a = await sample();
  await sleep(1200);
  const b = await sample();
  const advanced = b.frames - a.frames;
  log(`${what}: ${b.w}x${b.h}, ${advanced} frames and ${(b.t - a.t).toFixed(2)} s in 1.2 s`);
  check(advanced >= 3 && b.t > a.t, `${what}: frames did not advance (${JSON.stringify({ a, b })})`);
  return { width: b.w, height: b.h, frames_in_1200ms: advanced };
}

async function getJson(path, token) {
  const r = await api(base, 'GET', path, token);
  check(r.status === 200, `GET ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const browser = await step('launch chromium', () => launchBrowser('studio'));

// ---- the studio -----------------------------------------------------------------------------

// A catalog product that is not in the lineup yet: the studio offers to add it.
const extra = await step('a catalog product outside the lineup', async () => {
  const r = await api(base, 'POST', '/api/products', creator, {
    sku: `CUP-${Date.now()}`, title: 'Espresso cup', stock: 12, price: { amount: 900, currency: 'USD' },
  });
  check(r.status === 201, `POST products answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.id;
});

const studioCtx = await step('creator context', () => person(browser, base, 'studio', DESKTOP));
const studio = await step('open the studio', async () => {
  const page = await studioCtx.newPage();
  pages.studio = page;
  const res = await page.goto(`${base}/studio/${show}#token=${creator}`, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET /studio answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready === true, null, 'window.livesale.ready');
  await until(page, () => document.body.dataset.conn === 'open', null, 'the live room to open');
  // The token left the address bar (kept in storage).
  check(!page.url().includes('token='), `the token stayed in the address bar: ${page.url()}`);
  const st = await page.getAttribute('#show-state', 'data-state');
  check(st === 'scheduled', `#show-state is ${st}, expected scheduled`);
  await until(page, (n) => document.querySelectorAll('#lineup .lineup-item .pin').length === n,
    products.length, `${products.length} lineup items with pin buttons`);
  return page;
});

await step('add a catalog product to the lineup', async () => {
  await until(studio, (id) => !document.querySelector('#add-product-form').hidden
    && !!document.querySelector(`#add-product option[value="${id}"]`), extra, 'the catalog product offered');
  await studio.selectOption('#add-product', extra);
  await studio.click('#add-product-btn');
  await until(studio, (id) => !!document.querySelector(`#lineup .lineup-item[data-product-id="${id}"] form.deal-form`),
    extra, 'the product in the lineup');
  const lineup = await getJson(`/api/shows/${show}/lineup`);
  check(lineup.products.some((p) => p.id === extra), 'GET lineup does not have the added product');
  check(await studio.isHidden('#add-product-form'), 'the add form stays with nothing left to add');
});

await step('go live', async () => {
  await studio.click('#go-live');
  await until(studio, () => document.querySelector('#show-state').dataset.state === 'live', null, '#show-state to be live');
  const s = await getJson(`/api/shows/${show}`);
  check(s.status === 'live', `GET show says ${s.status}`);
  check(await studio.isVisible('#end-show'), '#end-show is not visible once live');
  check(!(await studio.isVisible('#go-live')), '#go-live still visible once live');
  result.went_live = true;
});

const laptop = await step('start the laptop camera', async () => {
  await studio.click('#laptop-camera');
  const id = await until(studio, () => {
    const t = document.querySelector('#camera-grid .camera-tile.local');
    return t && t.dataset.cameraId;
  }, null, 'the laptop tile in the camera grid', 20000);
  const frames = await framesAdvance(studio, `#camera-grid .camera-tile[data-camera-id="${id}"] video`, 'the laptop tile');
  const cams = await getJson(`/api/shows/${show}/cameras`, creator);
  const listed = cams.cameras.find((c) => c.id === id);
  check(listed, `GET cameras does not list the laptop camera ${id}: ${JSON.stringify(cams)}`);
  check(listed.label === 'Laptop', `the laptop camera's label is ${listed.label}`);
  result.laptop = { id, ...frames };
  return id;
});

const invite = await step('add a phone camera (link and QR)', async () => {
  await studio.fill('#phone-label', 'Phone');
  await studio.click('#add-phone');
  const href = await until(studio, () => {
    const a = document.querySelector('#camera-link');
    return a && !document.querySelector('#phone-invite').hidden && a.href.includes('/camera/') && a.href;
  }, null, 'the camera link');
  await until(studio, () => {
    const img = document.querySelector('#camera-qr');
    return img && !img.hidden && img.complete && img.naturalWidth > 50;
  }, null, 'the QR image to load');
  const alt = await studio.getAttribute('#camera-qr', 'alt');
  check(alt && alt.length > 5, 'the QR image has no alt text');
  result.camera_link = href.replace(/\/camera\/.*/, '/camera/…');
  return href;
});

await step('a refused camera label shows the server\'s message', async () => {
  await studio.fill('#phone-label', 'Cam\u202Eevil');
  await studio.click('#add-phone');
  const msg = await until(studio, () => {
    const e = document.querySelector('#studio-error');
    return e && !e.hidden && e.textContent.trim();
  }, null, 'the invite error in #studio-error');
  check(!(await studio.isDisabled('#add-phone')), '#add-phone stayed disabled after the error');
  result.invite_error = msg;
  await studio.evaluate(() => { document.querySelector('#studio-error').hidden = true; });
  await studio.fill('#phone-label', 'Phone');
});

// ---- the phone ------------------------------------------------------------------------------

const phoneCtx = await step('phone context', () => person(browser, base, 'phone', PHONE));
const phone = await step('open the camera link on the phone', async () => {
  const page = await phoneCtx.newPage();
  pages.phone = page;
  const res = await page.goto(invite, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET camera page answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready === true, null, 'the camera page ready');
  await until(page, () => document.body.dataset.conn === 'open' && window.livesale.cameraId, null, 'the tally room (welcome.you.id)');
  const tally = (await page.textContent('#tally')).trim();
  check(tally === 'Standby', `#tally says ${tally} before starting`);
  return page;
});

const phoneId = await step('start the phone camera', async () => {
  await phone.selectOption('#facing', 'environment');
  await phone.click('#start');
  await framesAdvance(phone, 'video#preview', 'the phone preview');
  await until(phone, () => /live to the studio/i.test(document.querySelector('#camera-status').textContent),
    null, '#camera-status to say it is sending', 20000);
  const fit = await phone.evaluate(() => getComputedStyle(document.querySelector('#preview')).objectFit);
  check(fit === 'cover', `the preview's object-fit is ${fit}`);
  const id = await phone.evaluate(() => window.livesale.cameraId);
  return id;
});

await step('the phone tile plays in the studio', async () => {
  const sel = `#camera-grid .camera-tile[data-camera-id="${phoneId}"]`;
  await until(studio, (s) => !!document.querySelector(s), sel, 'the phone tile in the studio', 15000);
  const label = (await studio.textContent(`${sel} .camera-label`)).trim();
  check(label === 'Phone', `the phone tile's label is ${label}`);
  result.phone_tile = await framesAdvance(studio, `${sel} video`, 'the phone tile preview', 25000);
  const muted = await studio.evaluate((s) => document.querySelector(`${s} video`).muted, sel);
  check(muted, 'the phone preview is not muted');
});

await step('switch the facing while live (replaceTrack)', async () => {
  await phone.selectOption('#facing', 'user');
  await until(phone, () => !document.querySelector('#facing').disabled, null, 'the facing switch to finish');
  await framesAdvance(phone, 'video#preview', 'the phone preview after switching');
  const sending = await phone.evaluate(() => {
    const s = window.livesale.session;
    const tr = s && s.pc.getTransceivers().find((t) => t.receiver.track.kind === 'video');
    return !!(tr && tr.sender.track && tr.sender.track.readyState === 'live');
  });
  check(sending, 'the phone does not send a live video track after switching');
});

await step('the phone\'s tally connection drops and resumes', async () => {
  await phone.evaluate(() => window.livesale.room.drop());
  await until(phone, () => document.body.dataset.conn === 'reconnecting'
    && /reconnecting/i.test(document.querySelector('#room-status').textContent), null, 'the phone to say it is reconnecting', 3000);
  await until(phone, () => document.body.dataset.conn === 'open', null, 'the phone room to reopen', 10000);
});

await step('Take the phone: on air in the studio and on the phone', async () => {
  const sel = `#camera-grid .camera-tile[data-camera-id="${phoneId}"]`;
  const t0 = Date.now();
  await studio.click(`${sel} .take`);
  await until(phone, () => {
    const t = document.querySelector('#tally');
    return t.classList.contains('on-air') && t.textContent.trim() === 'ON AIR';
  }, null, 'the phone tally to show ON AIR', TALLY_BOUND);
  const tallyMs = Date.now() - t0;
  await until(studio, (s) => {
    const t = document.querySelector(s);
    return t.classList.contains('on-air') && t.getAttribute('aria-current') === 'true'
      && !t.classList.contains('pending') && !t.querySelector('.onair-label').hidden;
  }, sel, 'the phone tile marked on air', TALLY_BOUND);
  const others = await studio.evaluate(() => document.querySelectorAll('#camera-grid .camera-tile.on-air').length);
  check(others === 1, `${others} tiles are marked on air`);
  const prog = await getJson(`/api/shows/${show}/program`);
  check(prog.camera === phoneId, `GET program says ${prog.camera}`);
  result.tally_on_ms = tallyMs;
  // The phone while on air, at both sizes.
  result.artifacts = await artifactsAtBothSizes(phone, 'camera');
});

await step('Take the laptop: the phone tally goes off', async () => {
  const t0 = Date.now();
  await studio.click(`#camera-grid .camera-tile[data-camera-id="${laptop}"] .take`);
  await until(phone, () => {
    const t = document.querySelector('#tally');
    return !t.classList.contains('on-air') && t.textContent.trim() === 'Standby';
  }, null, 'the phone tally back to Standby', TALLY_BOUND);
  result.tally_off_ms = Date.now() - t0;
  await until(studio, (id) => {
    const t = document.querySelector(`#camera-grid .camera-tile[data-camera-id="${id}"]`);
    return t.classList.contains('on-air') && t.getAttribute('aria-current') === 'true';
  }, laptop, 'the laptop tile marked on air', TALLY_BOUND);
  const phoneMarked = await studio.evaluate((id) => document.querySelector(`#camera-grid .camera-tile[data-camera-id="${id}"]`).classList.contains('on-air'), phoneId);
  check(!phoneMarked, 'the phone tile is still marked on air');
});

// ---- products -------------------------------------------------------------------------------

const item = (id) => `#lineup .lineup-item[data-product-id="${id}"]`;

await step('deal form: a bad price is explained, nothing is sent', async () => {
  const it = item(products[0]);
  await studio.fill(`${it} form.deal-form input[name="price"]`, 'twelve');
  await studio.click(`${it} form.deal-form button[type="submit"]`);
  const msg = await until(studio, (s) => {
    const e = document.querySelector(`${s} .form-error`);
    return e && !e.hidden && e.textContent.trim();
  }, it, 'the deal form validation message');
  const invalid = await studio.getAttribute(`${it} form.deal-form input[name="price"]`, 'aria-invalid');
  check(invalid === 'true', 'the price input is not marked aria-invalid');
  // A price above the regular price is refused before it is sent too.
  await studio.fill(`${it} form.deal-form input[name="price"]`, '99.00');
  await studio.click(`${it} form.deal-form button[type="submit"]`);
  await until(studio, (s) => /below the regular price/.test(document.querySelector(`${s} .form-error`).textContent),
    it, 'the "below the regular price" message');
  const pins = await getJson(`/api/shows/${show}/pins`);
  check(pins.pins.length === 0, `something was pinned: ${JSON.stringify(pins)}`);
  result.deal_validation = msg;
});

await step('pin with a deal from the deal form', async () => {
  const it = item(products[0]);
  const form = `${it} form.deal-form`;
  await studio.fill(`${form} input[name="price"]`, '12.50');
  await studio.fill(`${form} input[name="quantity"]`, '10');
  await studio.fill(`${form} input[name="per_buyer_limit"]`, '2');
  await studio.fill(`${form} input[name="duration_s"]`, '600');
  await studio.click(`${form} button[type="submit"]`);
  await until(studio, (s) => {
    const li = document.querySelector(s);
    return li.classList.contains('pinned') && /12\.50/.test(li.querySelector('.pin-state').textContent)
      && !li.querySelector('.unpin').hidden;
  }, it, 'the item marked pinned with its deal');
  const pins = await getJson(`/api/shows/${show}/pins`);
  const pin = pins.pins.find((p) => p.product_id === products[0]);
  check(pin && pin.deal, `GET pins has no deal: ${JSON.stringify(pins)}`);
  check(pin.deal.price.amount === 1250 && pin.deal.quantity === 10 && pin.deal.per_buyer_limit === 2,
    `the deal is ${JSON.stringify(pin.deal)}`);
  result.deal = { price: pin.deal.price, quantity: pin.deal.quantity, per_buyer_limit: pin.deal.per_buyer_limit };
});

await step('a refused pin shows the message, the button still works', async () => {
  const it = item(products[1]);
  const route = `${base}/api/shows/${show}/pins`;
  await studio.route(route, (r) => {
    if (r.request().method() !== 'POST') return r.continue();
    return r.fulfill({
      status: 409,
      contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'about:blank', title: 'Conflict', status: 409, code: 'product_sold_out', detail: 'this product is sold out' }),
    });
  });
  await studio.click(`${it} .pin`);
  const msg = await until(studio, (s) => {
    const e = document.querySelector(`${s} .item-error`);
    return e && !e.hidden && e.textContent.trim();
  }, it, 'the pin error message');
  check(/sold out/.test(msg), `the pin error says ${msg}`);
  check(!(await studio.isDisabled(`${it} .pin`)), 'the pin button stayed disabled');
  await studio.unroute(route);
  // Now for real: the same button pins.
  await studio.click(`${it} .pin`);
  await until(studio, (s) => document.querySelector(s).classList.contains('pinned'), it, 'the second product pinned');
  await studio.click(`${it} .unpin`);
  await until(studio, (s) => !document.querySelector(s).classList.contains('pinned'), it, 'the second product unpinned');
  const pins = await getJson(`/api/shows/${show}/pins`);
  check(!pins.pins.some((p) => p.product_id === products[1]), 'the unpinned product is still pinned');
  result.pin_error = msg;
});

// ---- a viewer buys and chats ----------------------------------------------------------------

const viewer = await step('a viewer joins', async () => {
  const r = await api(base, 'POST', `/api/shows/${show}/viewers`, null, { display_name: 'Dana' });
  check(r.status === 201, `POST viewers answered ${r.status}`);
  return r.body;
});

await step('a purchase updates orders and revenue', async () => {
  const before = (await studio.textContent('#stat-orders')).trim();
  check(before === '0', `#stat-orders is ${before} before any purchase`);
  const put = await api(base, 'PUT', `/api/shows/${show}/cart/items/${products[0]}`, viewer.token, { quantity: 1 });
  check(put.status === 200, `PUT cart answered ${put.status}: ${JSON.stringify(put.body)}`);
  const res = await fetch(`${base}/api/shows/${show}/checkout`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${viewer.token}`, 'Idempotency-Key': `studio-test-${Date.now()}` },
  });
  const body = await res.json();
  check(res.status === 201, `checkout answered ${res.status}: ${JSON.stringify(body)}`);
  await until(studio, () => document.querySelector('#stat-orders').textContent.trim() === '1', null, '#stat-orders to be 1');
  const revenue = await until(studio, () => {
    const t = document.querySelector('#stat-revenue').textContent;
    return /12\.50/.test(t) && t;
  }, null, '#stat-revenue to show 12.50');
  // Live stock from pin.updated: 40 - 1.
  await until(studio, (s) => /39 in stock/.test(document.querySelector(s).textContent), item(products[0]), 'the live stock (39)');
  result.revenue = revenue;
});

await step('the studio\'s room drops: a banner says so, then it resumes', async () => {
  await studio.evaluate(() => window.livesale.room.drop());
  await until(studio, () => {
    const b = document.querySelector('#conn-status');
    return document.body.dataset.conn === 'reconnecting' && !b.hidden && /reconnect/i.test(b.textContent);
  }, null, 'the reconnect banner', 3000);
  await until(studio, () => document.body.dataset.conn === 'open' && document.querySelector('#conn-status').hidden,
    null, 'the studio room to reopen', 10000);
});

const chatter = await step('a viewer chat client connects', async () => {
  const ctx = await person(browser, base, 'viewer-ws', PHONE);
  const page = await ctx.newPage();
  pages.viewer = page;
  await page.goto(`${base}/healthz`);
  await page.evaluate(({ showId, token }) => new Promise((resolve, reject) => {
    window.frames_ = [];
    const ws = new WebSocket(`ws://${location.host}/api/shows/${showId}/ws?v=1&token=${token}`);
    window.ws_ = ws;
    ws.onmessage = (e) => window.frames_.push(JSON.parse(e.data));
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error('websocket error'));
  }), { showId: show, token: viewer.token });
  await until(page, () => window.frames_.some((f) => f.type === 'welcome'), null, 'the viewer welcome');
  return page;
});

await step('viewers counted', async () => {
  const n = await until(studio, () => {
    const v = Number(document.querySelector('#stat-viewers').textContent);
    return v >= 3 && v;
  }, null, '#stat-viewers to count studio, phone and viewer (>= 3)');
  result.viewers = n;
});

await step('a viewer message appears; the inline delete removes it everywhere', async () => {
  const text = 'Is the blue one still available? <b>bold?</b>';
  await chatter.evaluate((t) => window.ws_.send(JSON.stringify({ type: 'chat.send', text: t })), text);
  const id = await until(studio, (t) => {
    const li = [...document.querySelectorAll('#chat-list li.msg')].find((m) => m.querySelector('.text').textContent === t);
    return li && li.dataset.id;
  }, text, 'the viewer message in the studio chat');
  const li = `#chat-list li.msg[data-id="${id}"]`;
  const markup = await studio.evaluate((s) => document.querySelector(s).querySelectorAll('b, script').length, li);
  check(markup === 0, 'the message text was rendered as HTML');
  const who = (await studio.textContent(`${li} .who`)).trim();
  check(who === 'Dana', `the author shows as ${who}`);
  check(await studio.isVisible(`${li} .mod-timeout`) && await studio.isVisible(`${li} .mod-ban`), 'timeout/ban buttons missing');
  await studio.click(`${li} .mod-delete`);
  await until(studio, (s) => !document.querySelector(s), li, 'the message removed from the studio chat');
  await until(chatter, (i) => window.frames_.some((f) => f.type === 'chat.deleted' && f.id === i), id, 'chat.deleted at the viewer');
  result.deleted = true;
});

await step('inline timeout: the viewer cannot chat', async () => {
  const text = 'buy followers at example.com';
  await chatter.evaluate((t) => window.ws_.send(JSON.stringify({ type: 'chat.send', text: t })), text);
  const id = await until(studio, (t) => {
    const li = [...document.querySelectorAll('#chat-list li.msg')].find((m) => m.querySelector('.text').textContent === t);
    return li && li.dataset.id;
  }, text, 'the second viewer message');
  await studio.click(`#chat-list li.msg[data-id="${id}"] .mod-timeout`);
  await until(studio, () => [...document.querySelectorAll('#toasts .toast')].some((t) => /10 minutes/.test(t.textContent)),
    null, 'the timeout confirmation');
  await chatter.evaluate(() => window.ws_.send(JSON.stringify({ type: 'chat.send', text: 'still here?' })));
  await until(chatter, () => window.frames_.some((f) => f.type === 'error' && f.code === 'timed_out'), null,
    'the viewer refused with timed_out');
});

await step('the creator chats', async () => {
  const text = 'Welcome, everyone! ¡Hola! שלום';
  await studio.fill('#chat-input', text);
  await studio.press('#chat-input', 'Enter');
  await until(chatter, (t) => window.frames_.some((f) => f.type === 'chat.message' && f.text === t && f.role === 'creator'),
    text, 'the creator message at the viewer');
  await until(studio, (t) => [...document.querySelectorAll('#chat-list li.msg.role-creator .text')].some((e) => e.textContent === t),
    text, 'the creator message in the studio chat');
  const value = await studio.inputValue('#chat-input');
  check(value === '', 'the chat input was not cleared');
});

await step('keyboard: Take buttons are reachable and labelled', async () => {
  const labels = await studio.evaluate(() => [...document.querySelectorAll('#camera-grid .take')].map((b) => b.getAttribute('aria-label')));
  check(labels.every((l) => l && l.startsWith('Put ')), `Take buttons without labels: ${JSON.stringify(labels)}`);
  const unlabelled = await studio.evaluate(() => [...document.querySelectorAll('input, select')]
    .filter((i) => i.type !== 'hidden' && !(i.labels && i.labels.length) && !i.getAttribute('aria-label')).map((i) => i.name || i.id));
  check(unlabelled.length === 0, `controls without a label: ${unlabelled}`);
});

await step('screenshots at phone and desktop sizes', async () => {
  result.artifacts.push(...(await artifactsAtBothSizes(studio, 'studio')));
});

await step('stop the phone: its tile leaves the grid', async () => {
  await phone.click('#stop');
  await until(phone, () => /stopped/i.test(document.querySelector('#camera-status').textContent), null, 'the phone to say it stopped');
  await until(studio, (id) => !document.querySelector(`#camera-grid .camera-tile[data-camera-id="${id}"]`), phoneId,
    'the phone tile to disappear', 15000);
});

await step('end the show after confirming', async () => {
  await studio.click('#end-show');
  await until(studio, () => document.querySelector('#end-dialog').open, null, 'the confirmation dialog');
  // Cancelling keeps the show live.
  await studio.click('#end-cancel');
  await until(studio, () => !document.querySelector('#end-dialog').open, null, 'the dialog to close');
  check((await getJson(`/api/shows/${show}`)).status === 'live', 'cancel ended the show');
  await studio.click('#end-show');
  await until(studio, () => document.querySelector('#end-dialog').open, null, 'the confirmation dialog again');
  await studio.click('#end-confirm');
  await until(studio, () => document.querySelector('#show-state').dataset.state === 'ended', null, '#show-state to be ended');
  const s = await getJson(`/api/shows/${show}`);
  check(s.status === 'ended', `GET show says ${s.status}`);
});

await finish({ ok: true, ...result });
