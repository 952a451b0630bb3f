#!/usr/bin/env node
// The whole product in one run, as people use it (the browser-apps issue's judged scenario):
//
//   1. a creator opens the studio and goes live from the laptop camera;
//   2. a second browser context joins as a phone camera through the studio's camera link;
//   3. the creator takes the phone camera, and its tally shows ON AIR;
//   4. a viewer at phone size sees video playing (frames advancing), chats, sends reactions,
//      adds the pinned deal to the cart and checks out;
//   5. the creator's numbers update and every viewer sees the purchase toast;
//   6. a moderator deletes a message, and it disappears for everyone.
//
// Every person is a separate context of one headless Chromium with Chromium's fake camera and
// microphone. The pages are driven only through what a person sees (the hooks of
// docs/web-hooks.md); the API is used only to check what the server ended up with.
//
//   node tests/browser/flow.mjs --base URL --show ID --creator-token T --moderator-token T \
//     --product ID [--product ID …] [--deadline-ms 240000]
//
// Prints one JSON line on stdout (see lib.mjs); tests/browser_apps/flow.rs asserts on it.

import {
  api, artifactsAtBothSizes, finish, framesAdvancing, launchBrowser, person, scenario, sleep, until, PHONE,
  DESKTOP,
} from './lib.mjs';

const { opts, base, show, creator: creatorToken, steps, pages, step } = await scenario('flow', {},
  { required: ['moderator-token'], deadlineMs: 240000 });

const browser = await step('launch chromium', () => launchBrowser('flow'));

// ---- 1. the creator goes live from the laptop camera ----------------------------------------
const creator = await person(browser, base, 'studio', DESKTOP);
const studio = await step('1. studio opens', async () => {
  const page = await creator.newPage();
  pages.studio = page;
  await page.goto(`${base}/studio/${show}#token=${creatorToken}`);
  await until(page, () => window.livesale && window.livesale.ready, null, 'the studio script');
  return page;
});
await step('1. go live', async () => {
  await studio.click('#go-live');
  await until(studio, () => document.querySelector('#show-state')?.dataset.state === 'live', null,
    'the studio to say live');
  const r = await api(base, 'GET', `/api/shows/${show}`);
  if (r.body.status !== 'live') throw new Error(`GET show says ${r.body.status}`);
});
const laptopId = await step('1. laptop camera', async () => {
  await studio.click('#laptop-camera');
  const id = await until(studio, () => {
    const tiles = document.querySelectorAll('#camera-grid .camera-tile[data-camera-id]');
    return tiles.length >= 1 ? tiles[0].dataset.cameraId : null;
  }, null, 'the laptop camera tile');
  const cams = await api(base, 'GET', `/api/shows/${show}/cameras`, creatorToken);
  if (!cams.body.cameras.some((c) => c.id === id)) {
    throw new Error(`the server lists no camera ${id}: ${JSON.stringify(cams.body)}`);
  }
  return id;
});

// ---- 2. a phone joins as a camera through the camera link ----------------------------------
const cameraUrl = await step('2. camera link', async () => {
  await studio.click('#add-phone');
  const href = await until(studio, () => {
    const a = document.querySelector('#camera-link');
    return a && a.href && a.href.includes('/camera/') ? a.href : null;
  }, null, 'the camera link');
  await until(studio, () => {
    const img = document.querySelector('#camera-qr');
    return img && img.complete && img.naturalWidth > 0;
  }, null, 'the QR code image');
  return href;
});
const phoneContext = await person(browser, base, 'phone-camera', PHONE);
const phone = await step('2. phone camera publishes', async () => {
  const page = await phoneContext.newPage();
  pages.phone = page;
  await page.goto(new URL(new URL(cameraUrl).pathname, base).href);
  await until(page, () => window.livesale && window.livesale.ready, null, 'the camera script');
  await page.click('#start');
  return page;
});
const phoneId = await step('2. phone tile in the studio', async () => until(studio, (laptop) => {
  const tile = Array.from(document.querySelectorAll('#camera-grid .camera-tile[data-camera-id]'))
    .find((t) => t.dataset.cameraId !== laptop);
  return tile ? tile.dataset.cameraId : null;
}, laptopId, 'a second camera tile', 20000));
await step('2. previews play in the studio', async () => {
  for (const id of [laptopId, phoneId]) {
    const sel = `#camera-grid .camera-tile[data-camera-id="${id}"] video`;
    await until(studio, (s) => { const v = document.querySelector(s); return v && v.videoWidth > 0; },
      sel, `the preview of ${id}`, 20000);
    const f = await framesAdvancing(studio, sel);
    if (f.frames < 5) throw new Error(`preview ${id} presented ${f.frames} frames in ${f.ms} ms`);
  }
});

// ---- 3. the creator takes the phone camera; its tally shows ON AIR ---------------------------
await step('3. take the phone camera', async () => {
  const t0 = Date.now();
  await studio.click(`#camera-grid .camera-tile[data-camera-id="${phoneId}"] .take`);
  await until(phone, () => {
    const t = document.querySelector('#tally');
    return t && t.classList.contains('on-air') && /ON AIR/i.test(t.textContent);
  }, null, "the phone's ON AIR tally", 15000);
  const tallyMs = Date.now() - t0;
  await until(studio, (id) => {
    const t = document.querySelector(`#camera-grid .camera-tile[data-camera-id="${id}"]`);
    return t && t.classList.contains('on-air');
  }, phoneId, 'the studio to mark the phone on air');
  const cams = await api(base, 'GET', `/api/shows/${show}/cameras`, creatorToken);
  const onAir = cams.body.cameras.filter((c) => c.on_air).map((c) => c.id);
  if (onAir.length !== 1 || onAir[0] !== phoneId) throw new Error(`on air per the API: ${onAir}`);
  return { tally_ms: tallyMs };
});

// The creator pins the first product with a deal from the studio's deal form.
const product = opts.product[0];
await step('studio pins a deal', async () => {
  const form = `#lineup .lineup-item[data-product-id="${product}"] form.deal-form`;
  await studio.fill(`${form} input[name=price]`, '12.50');
  await studio.fill(`${form} input[name=quantity]`, '5');
  await studio.fill(`${form} input[name=per_buyer_limit]`, '2');
  await studio.fill(`${form} input[name=duration_s]`, '600');
  await studio.click(`${form} [type=submit]`);
  for (let i = 0; i < 50; i += 1) {
    const r = await api(base, 'GET', `/api/shows/${show}/pins`);
    const pin = (r.body.pins || []).find((p) => p.product_id === product);
    if (pin && pin.deal) {
      if (pin.deal.price.amount !== 1250) throw new Error(`deal price ${JSON.stringify(pin.deal)}`);
      return { deal: pin.deal };
    }
    await sleep(200);
  }
  throw new Error('GET pins shows no deal for the product');
});

// ---- 4. a viewer at phone size ---------------------------------------------------------------
async function openViewer(label, size) {
  const ctx = await person(browser, base, label, size);
  const page = await ctx.newPage();
  pages[label] = page;
  await page.goto(`${base}/s/${show}`);
  await until(page, () => window.livesale && window.livesale.ready && document.body.dataset.conn === 'open',
    null, `the ${label} page's live room`);
  return page;
}
const viewer = await step('4. viewer opens the show', () => openViewer('viewer', PHONE));
const other = await step('4. a second viewer (desktop)', () => openViewer('viewer2', DESKTOP));

await step('4. video plays', async () => {
  await until(viewer, () => { const v = document.querySelector('video#program'); return v && v.videoWidth > 0; },
    null, 'the program video', 20000);
  const f = await framesAdvancing(viewer, 'video#program');
  if (f.frames < 5 || !(f.advanced > 0)) throw new Error(`program video: ${JSON.stringify(f)}`);
  return f;
});

async function join(page, name) {
  const form = await page.$('#join-form');
  if (form && await form.isVisible()) {
    await page.fill('#display-name', name);
    await page.press('#display-name', 'Enter');
    await until(page, () => !document.querySelector('#join-form') || document.querySelector('#join-form').hidden
      || getComputedStyle(document.querySelector('#join-form')).display === 'none', null, 'the name form to close');
  }
}

async function chat(page, name, text) {
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
  await join(page, name);
  // The page may send the held message after joining, or leave it in the input.
  await sleep(300);
  const pending = await page.inputValue('#chat-input');
  if (pending === text) {
    await page.press('#chat-input', 'Enter');
  }
}

const dana = 'Dana';
const chatText = `Is the mug dishwasher safe? ${Date.now()}`;
const messageId = await step('4. viewer chats', async () => {
  await chat(viewer, dana, chatText);
  for (const [label, page] of [['viewer2', other], ['studio', studio]]) {
    await until(page, (t) => Array.from(document.querySelectorAll('#chat-list .msg .text'))
      .some((e) => e.textContent === t), chatText, `the message on ${label}`);
  }
  return viewer.evaluate((t) => Array.from(document.querySelectorAll('#chat-list .msg'))
    .find((li) => li.querySelector('.text')?.textContent === t)?.dataset.id, chatText);
});

await step('4. reactions', async () => {
  for (let i = 0; i < 3; i += 1) await viewer.click('.react-btn[data-kind="heart"]');
  await until(other, () => document.querySelectorAll('#bursts .burst').length > 0, null,
    'reaction bursts at the other viewer');
});

await step('4. add the pinned deal to the cart', async () => {
  const card = `#pins .pin-card[data-product-id="${product}"]`;
  await until(viewer, (c) => document.querySelector(c), card, 'the pinned card');
  await until(viewer, (c) => /\d/.test(document.querySelector(`${c} .pin-left`)?.textContent || ''), card,
    'the card to say how many are left');
  await viewer.click(`${card} .add-to-cart`);
  await join(viewer, dana);
  await until(viewer, () => /[1-9]/.test(document.querySelector('#cart-count')?.textContent || ''), null,
    'the cart count');
});

const toastsBefore = await other.evaluate(() => document.querySelectorAll('.toast-purchase').length);
await step('4. checkout', async () => {
  await viewer.click('#cart-button');
  await until(viewer, () => document.querySelector('#cart-drawer .cart-item'), null, 'the cart drawer');
  await viewer.click('#checkout');
  await until(viewer, () => { const c = document.querySelector('#order-confirmation'); return c && !c.hidden && c.textContent.trim(); },
    null, 'the order confirmation');
  const orders = await api(base, 'GET', `/api/shows/${show}/orders`, creatorToken);
  if (orders.body.orders.length !== 1) throw new Error(`orders: ${JSON.stringify(orders.body)}`);
  return { total: orders.body.total };
});

// ---- 5. the creator's numbers and everyone's toast -------------------------------------------
await step('5. studio numbers', async () => {
  await until(studio, () => document.querySelector('#stat-orders')?.textContent.trim() === '1', null,
    'the studio to count one order');
  const revenue = await studio.textContent('#stat-revenue');
  if (!/12\.50/.test(revenue)) throw new Error(`revenue shows '${revenue}'`);
  return { revenue };
});
await step('5. purchase toasts', async () => {
  for (const [label, page, before] of [['viewer2', other, toastsBefore], ['viewer', viewer, 0]]) {
    await until(page, (n) => Array.from(document.querySelectorAll('.toast-purchase'))
      .some((t) => /Dana/.test(t.textContent)) || document.querySelectorAll('.toast-purchase').length > n,
    before, `the purchase toast on ${label}`);
  }
});

// ---- 6. a moderator deletes a message; it disappears for everyone ----------------------------
const modContext = await person(browser, base, 'moderator', DESKTOP);
const desk = await step('6. moderator desk', async () => {
  const page = await modContext.newPage();
  pages.desk = page;
  await page.goto(`${base}/moderate/${show}#token=${opts['moderator-token']}`);
  await until(page, () => window.livesale && window.livesale.ready && document.body.dataset.conn === 'open',
    null, 'the desk');
  await until(page, (id) => document.querySelector(`#chat-list .msg[data-id="${id}"]`), messageId,
    'the message on the desk');
  return page;
});
await step('6. delete', async () => {
  desk.once('dialog', (d) => d.accept());
  await desk.click(`#chat-list .msg[data-id="${messageId}"] .mod-delete`);
  for (const [label, page] of [['viewer', viewer], ['viewer2', other], ['studio', studio], ['desk', desk]]) {
    await until(page, (id) => !document.querySelector(`#chat-list .msg[data-id="${id}"]`), messageId,
      `the message to disappear on ${label}`);
  }
});

await step('screenshots', async () => {
  const saved = [];
  for (const [label, page] of Object.entries(pages)) saved.push(...await artifactsAtBothSizes(page, `flow-${label}`));
  return { saved: saved.length };
});

await finish({ ok: true, steps });
