#!/usr/bin/env node
// Paying by card in the viewer's cart drawer (`--payments stripe`) in headless Chromium at
// phone size, against a server whose Stripe is localstripe (tests/browser_apps/stripe.rs starts
// both and points localstripe's webhook at the server). Stripe.js is localstripe's stand-in,
// loaded from --stripe-js-url: its card element is plain inputs (number, exp_month, exp_year,
// cvc, postal_code) inside #card-element, where real Stripe.js has an iframe.
//
//   new card     viewer A (phone) adds the pinned deal, opens the drawer, gives email and
//                shipping, types 4242 4242 4242 4242 and pays: the drawer says "Paid", the order
//                is `paid` on the server (the webhook settled it), the product's stock dropped
//                by one, viewer B saw "N left" drop and the purchase toast, and the video
//                element kept playing state behind the drawer (the page never navigated).
//   decline      the next purchase: the details are prefilled from last time; the card
//                4000 0000 0000 0341 is declined and the drawer says so in words (aria-live);
//                4242 typed into the same drawer pays the same order.
//   saved card   the third purchase pays with "Pay with Visa •••• 4242" in one tap (no card
//                setup, no typing); the saved card can then be removed.
//
//   node tests/browser/stripe.mjs --base URL --show ID --creator-token T --moderator-token T \
//     --product ID --product ID --product ID [--deadline-ms N]
//
// Prints one JSON line (see lib.mjs): {"ok", "steps": {name: details}, "orders": [...]}.

import {
  api, artifactsAtBothSizes, artifact, finish, launchBrowser, person, scenario, until, PHONE, DESKTOP,
} from './lib.mjs';

const { base, show, creator, products, steps, pages, step } = await scenario('stripe', {}, {
  dump: (page) => page.evaluate(() => ({
    conn: document.body.dataset.conn,
    status: document.querySelector('#pay-status')?.textContent,
    error: document.querySelector('#cart-error:not([hidden])')?.textContent,
    confirmation: document.querySelector('#order-confirmation:not([hidden])')?.textContent,
    toasts: Array.from(document.querySelectorAll('.toast')).map((x) => x.textContent),
  })),
});

const [mug] = products;
const card = (id) => `#pins .pin-card[data-product-id="${id}"]`;
const DETAILS = {
  email: 'dana@example.com', name: 'Dana Levi', line1: '12 Harbour Road', line2: 'Flat 3',
  city: 'Springfield', postal_code: '12345', state: 'OR', country: 'US',
};

async function must(method, path, token, body, want = [200, 201, 204]) {
  const r = await api(base, method, path, token, body);
  if (!want.includes(r.status)) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const stock = async () => (await must('GET', `/api/products/${mug}`, creator)).stock;

const browser = await step('launch chromium', () => launchBrowser('stripe'));

async function openViewer(label, size) {
  const ctx = await person(browser, base, label, size);
  const page = await ctx.newPage();
  pages[label] = page;
  const res = await page.goto(`${base}/s/${show}`);
  if (!res || res.status() !== 200) throw new Error(`GET /s/${show} answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready && document.body.dataset.conn === 'open',
    null, `the ${label} page's live room`);
  return page;
}

/** Adds the mug from its pinned card and opens the drawer (the cart then has it). */
async function addAndOpen(page, count) {
  await page.click(`${card(mug)} .add-to-cart`);
  await until(page, (n) => document.querySelector('#cart-count').textContent.trim() === n, String(count), `cart count ${count}`);
  await page.click('#cart-button');
  await until(page, () => !document.querySelector('#cart-drawer').hidden && document.querySelector('#cart-drawer .cart-item'),
    null, 'the drawer with the mug');
}

/** Types a card number (and the rest) into the card element (localstripe's plain inputs). */
async function typeCard(page, number) {
  const field = (name) => `#card-element input[placeholder="${name}"]`;
  await until(page, (s) => document.querySelector(s), field('number'), 'the card element');
  for (const [name, value] of [['number', number], ['exp_month', '12'], ['exp_year', '30'], ['cvc', '123'],
    ['postal_code', '12345']]) {
    await page.fill(field(name), value);
  }
}

/** Waits for the drawer to say the order is paid; returns its order id. */
async function paidInDrawer(page, what) {
  return until(page, () => {
    const c = document.querySelector('#order-confirmation');
    return c && !c.hidden && c.dataset.status === 'paid' && /paid/i.test(c.textContent) && c.dataset.orderId;
  }, null, `"Paid" in the drawer (${what})`, 30000);
}

/** Every request of the page to the API while `fn` runs (method and path). */
async function requestsDuring(page, fn) {
  const seen = [];
  const listen = (r) => { if (r.url().includes('/api/')) seen.push(`${r.method()} ${new URL(r.url()).pathname}`); };
  page.on('request', listen);
  try {
    await fn();
  } finally {
    page.off('request', listen);
  }
  return seen;
}

await step('pin a flash deal', () => must('POST', `/api/shows/${show}/pins`, creator, {
  product_id: mug, deal: { price: 1250, quantity: 10, per_buyer_limit: 5, duration_s: 900 },
}));
const a = await step('viewer A opens (phone)', () => openViewer('a', PHONE));
const b = await step('viewer B opens (desktop)', () => openViewer('b', DESKTOP));
await until(a, (c) => document.querySelector(c), card(mug), 'the pinned deal at A');
await until(b, (c) => document.querySelector(c), card(mug), 'the pinned deal at B');
const orders = [];

await step('A adds the deal after picking a name', async () => {
  await a.click(`${card(mug)} .add-to-cart`);
  await until(a, () => !document.querySelector('#join-form').hidden, null, 'the name form');
  await a.fill('#display-name', 'Dana');
  await a.press('#display-name', 'Enter');
  await until(a, () => document.querySelector('#cart-count').textContent.trim() === '1', null, 'cart count 1');
});

await step('the drawer asks for details and a card', async () => {
  await a.click('#cart-button');
  await until(a, () => document.querySelector('#cart-drawer .cart-item')
    && document.querySelector('#card-element input'), null, 'the drawer with the card element');
  // Every field has a label and the autocomplete a browser fills it with.
  const fields = await a.evaluate(() => Array.from(document.querySelectorAll('#pay-form input[name]')).map((i) => ({
    name: i.name, label: document.querySelector(`label[for="${i.id}"]`)?.textContent.trim() || null,
    autocomplete: i.getAttribute('autocomplete'),
  })));
  const bad = fields.filter((f) => !f.label || !f.autocomplete);
  if (fields.length !== 8 || bad.length) throw new Error(`fields: ${JSON.stringify(fields)}`);
  // Paying with nothing filled in names the fields, and nothing is reserved.
  const before = await stock();
  await a.click('#checkout');
  const message = await until(a, () => {
    const e = document.querySelector('#cart-error');
    return !e.hidden && e.textContent.trim();
  }, null, 'the missing details explained');
  const invalid = await a.evaluate(() => Array.from(document.querySelectorAll('#pay-form [aria-invalid="true"]')).map((i) => i.name));
  const focused = await a.evaluate(() => document.activeElement && document.activeElement.name);
  if (!invalid.includes('email') || focused !== 'email') throw new Error(`invalid ${invalid}, focus on ${focused}`);
  if (await stock() !== before) throw new Error('stock changed for a checkout with no details');
  await artifactsAtBothSizes(a, 'stripe-drawer-details');
  return { fields: fields.length, message, invalid };
});

await step('A pays with 4242 and the drawer says Paid', async () => {
  const stockBefore = await stock();
  const leftBefore = await b.textContent(`${card(mug)} .pin-left`);
  const toastsBefore = await b.evaluate(() => document.querySelectorAll('.toast-purchase').length);
  for (const [name, value] of Object.entries(DETAILS)) await a.fill(`#pay-form [name="${name}"]`, value);
  await typeCard(a, '4242424242424242');
  const [placed] = await Promise.all([
    a.waitForResponse((r) => r.url().endsWith(`/api/shows/${show}/checkout`) && r.request().method() === 'POST', { timeout: 15000 }),
    a.click('#checkout'),
  ]);
  if (placed.status() !== 201) throw new Error(`checkout answered ${placed.status()}: ${await placed.text()}`);
  const sent = JSON.parse(placed.request().postData() || '{}');
  if (sent.email !== DETAILS.email || sent.shipping.city !== DETAILS.city) throw new Error(`checkout body ${JSON.stringify(sent)}`);
  const orderId = await paidInDrawer(a, 'new card');
  const token = await a.evaluate(() => window.livesale.state.token);
  const order = await must('GET', `/api/shows/${show}/orders/${orderId}`, token);
  if (order.status !== 'paid') throw new Error(`the order is ${order.status}`);
  const stockAfter = await stock();
  if (stockAfter !== stockBefore - 1) throw new Error(`stock ${stockBefore} → ${stockAfter}`);
  await until(b, ([c, was]) => {
    const t = document.querySelector(`${c} .pin-left`)?.textContent.trim();
    return t && t !== was && /^9 left$/.test(t);
  }, [card(mug), leftBefore], `"9 left" at B (was "${leftBefore}")`);
  const toast = await until(b, (n) => {
    const t = Array.from(document.querySelectorAll('.toast-purchase'));
    const hit = t.find((x) => /Dana/.test(x.textContent) && /Speckled mug/.test(x.textContent));
    return t.length > n && hit && hit.textContent;
  }, toastsBefore, 'the purchase toast at B');
  const behind = await a.evaluate(() => ({
    video: !!document.querySelector('video#program'), url: location.pathname,
  }));
  if (!behind.video || behind.url !== `/s/${show}`) throw new Error(`the page changed: ${JSON.stringify(behind)}`);
  await artifactsAtBothSizes(a, 'stripe-paid');
  orders.push(orderId);
  return { order: orderId, status: order.status, stock_before: stockBefore, stock_after: stockAfter, toast };
});

await step('a declined card is explained and a retry in the same drawer pays', async () => {
  await a.keyboard.press('Escape');
  await addAndOpen(a, 1);
  const kept = await a.evaluate(() => Object.fromEntries(Array.from(document.querySelectorAll('#pay-form input[name]'))
    .map((i) => [i.name, i.value])));
  for (const [name, value] of Object.entries(DETAILS)) {
    if (kept[name] !== value) throw new Error(`${name} not remembered: ${JSON.stringify(kept)}`);
  }
  const stockBefore = await stock();
  await typeCard(a, '4000000000000341');
  const [placed, declined] = await Promise.all([
    a.waitForResponse((r) => r.url().endsWith(`/api/shows/${show}/checkout`), { timeout: 15000 }),
    a.waitForResponse((r) => r.url().endsWith('/pay'), { timeout: 20000 }),
    a.click('#checkout'),
  ]);
  const orderId = (await placed.json()).order.id;
  if (!declined.url().endsWith(`/orders/${orderId}/pay`)) throw new Error(`paid ${declined.url()}, not ${orderId}`);
  const message = await until(a, () => {
    const e = document.querySelector('#cart-error');
    return !e.hidden && e.getAttribute('role') === 'alert' && e.textContent.trim();
  }, null, 'the decline in words');
  if (declined.status() !== 402 || !/declined/i.test(message)) throw new Error(`${declined.status()}: ${message}`);
  if (await a.isDisabled('#checkout')) throw new Error('the Pay button stayed disabled after the decline');
  await artifactsAtBothSizes(a, 'stripe-declined');
  await typeCard(a, '4242424242424242');
  const during = await requestsDuring(a, async () => {
    await a.click('#checkout');
    const paidId = await paidInDrawer(a, 'retry');
    if (paidId !== orderId) throw new Error(`the retry paid ${paidId}, not the declined order ${orderId}`);
  });
  if (during.some((r) => r.endsWith('/checkout'))) throw new Error(`the retry checked out again: ${during}`);
  const token = await a.evaluate(() => window.livesale.state.token);
  const order = await must('GET', `/api/shows/${show}/orders/${orderId}`, token);
  if (order.status !== 'paid') throw new Error(`the retried order is ${order.status}`);
  const stockAfter = await stock();
  if (stockAfter !== stockBefore - 1) throw new Error(`stock ${stockBefore} → ${stockAfter}`);
  await artifact(a, 'stripe-retry-paid');
  orders.push(orderId);
  return { order: orderId, declined_status: declined.status(), message, stock_before: stockBefore, stock_after: stockAfter };
});

await step('the saved card pays the next order in one tap', async () => {
  await a.keyboard.press('Escape');
  await addAndOpen(a, 1);
  const saved = await until(a, () => {
    const b0 = document.querySelector('#saved-cards:not([hidden]) .pay-saved');
    return b0 && b0.textContent.trim();
  }, null, 'a saved card in the drawer');
  if (!/^Pay with Visa •••• 4242$/.test(saved)) throw new Error(`saved card button: ${saved}`);
  await artifactsAtBothSizes(a, 'stripe-saved-card');
  const stockBefore = await stock();
  let orderId;
  const during = await requestsDuring(a, async () => {
    await a.click('#saved-cards .pay-saved');
    orderId = await paidInDrawer(a, 'saved card');
  });
  if (during.some((r) => r.includes('/cards/setup'))) throw new Error(`one tap set up a card: ${during}`);
  const token = await a.evaluate(() => window.livesale.state.token);
  const order = await must('GET', `/api/shows/${show}/orders/${orderId}`, token);
  if (order.status !== 'paid') throw new Error(`the one-tap order is ${order.status}`);
  const stockAfter = await stock();
  if (stockAfter !== stockBefore - 1) throw new Error(`stock ${stockBefore} → ${stockAfter}`);
  orders.push(orderId);
  return { order: orderId, button: saved, requests: during, stock_before: stockBefore, stock_after: stockAfter };
});

await step('a saved card can be removed', async () => {
  const token = await a.evaluate(() => window.livesale.state.token);
  const before = (await must('GET', `/api/shows/${show}/cards`, token)).cards.length;
  await until(a, (n) => document.querySelectorAll('#saved-cards .remove-card').length === n, before, `${before} saved cards shown`);
  await a.click('#saved-cards .remove-card');
  await until(a, (n) => document.querySelectorAll('#saved-cards .remove-card').length === n - 1, before, 'one card fewer');
  const after = (await must('GET', `/api/shows/${show}/cards`, token)).cards.length;
  if (after !== before - 1) throw new Error(`saved cards ${before} → ${after}`);
  const said = await a.textContent('#pay-status');
  return { before, after, said };
});

await finish({ ok: true, steps, orders, product: mug });
