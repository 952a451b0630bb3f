#!/usr/bin/env node
// The studio (/studio/{show}) and a phone camera (/camera/{invite}) in headless Chromium with
// Chromium's fake camera, against a running livesale server whose show is scheduled and has
// three products in its lineup (tests/browser_apps/main.rs, Fixture::new(false)).
//
//   node tests/browser/studio.mjs --base URL --show ID --creator-token T --moderator-token T \
//     --product ID --product ID --product ID [--scenario show|orders|chapters] [--tally-bound-ms 5000] \
//     [--deadline-ms 200000]
//
// Scenario `orders`: the creator (phone size) sees "No orders yet"; viewers buy through the API
// (the built-in test payments pay at checkout) and each order appears, newest first, with its
// buyer, items, total, "Paid" and its email and address folded away; Refund asks in a dialog
// (Esc keeps the order, the focus returns); a payment service that is down is said in words and
// refunds nothing; the refund turns the row Refunded with no second Refund offered, the numbers
// and the stock come back (checked through the API too); a Refund made stale by another tab
// says why and the row catches up; screenshots at phone and desktop sizes.
//
// Scenario `chapters`: the creator (phone size) adds a marker with the Marker button while live
// (confirmed, listed, on screen at phone width); after the end the button is off, a chapter is
// renamed and the marker hidden from the chapter list, and the API agrees.
//
// Scenario `show` (the default): the creator (desktop size) goes live, starts this computer's camera (its tile plays), makes a
// phone camera link (link and QR image); a phone (phone size) opens the link and starts; its
// tile plays in the studio; Take on the phone → tile on air and the phone's tally ON AIR, Take
// on the laptop → the phone's tally off; a deal from the deal form (client validation, a
// refusal shown as a message); a purchase through the API moves the orders and revenue; a
// viewer's chat message appears and the inline delete removes it for everyone; the creator
// chats; screenshots at phone and desktop sizes; the show ends after a confirmation.
//
// Prints one JSON line on stdout (see lib.mjs); tests/browser_apps/studio.rs asserts on it.

import {
  api, fail, finish, launchBrowser, log, person, artifactsAtBothSizes, scenario, until, sleep, PHONE,
  DESKTOP,
} from './lib.mjs';

const { opts, base, show, creator, products, state, pages, step } = await scenario((o) => (o.scenario === 'show' ? 'studio' : `studio-${o.scenario}`), {
  'tally-bound-ms': { type: 'string', default: '5000' },
  scenario: { type: 'string', default: 'show' },
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

// ---- scenario `orders`: the order list and refunds -------------------------------------------

/** A viewer named `name` joins and buys `quantity` of `product`, with an email and an address. */
async function buy(name, product, quantity) {
  const joined = await api(base, 'POST', `/api/shows/${show}/viewers`, null, { display_name: name });
  check(joined.status === 201, `POST viewers answered ${joined.status}`);
  const token = joined.body.token;
  const put = await api(base, 'PUT', `/api/shows/${show}/cart/items/${product}`, token, { quantity });
  check(put.status === 200, `PUT cart answered ${put.status}: ${JSON.stringify(put.body)}`);
  const res = await fetch(`${base}/api/shows/${show}/checkout`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json',
      'Idempotency-Key': `studio-orders-${name}-${Date.now()}`,
    },
    body: JSON.stringify({
      email: `${name.toLowerCase()}@example.com`,
      shipping: { name: `${name} Lovelace`, line1: '12 Analytical Row', city: 'London', postal_code: 'N1 9GU', country: 'GB' },
    }),
  });
  const body = await res.json();
  check(res.status === 201, `checkout answered ${res.status}: ${JSON.stringify(body)}`);
  // The built-in test provider pays at checkout: nothing waits for a card.
  check(body.order.status === 'paid', `the order is ${body.order.status}, not paid`);
  return body.order;
}

/** The row of `order` in the studio's list, as the page shows it. */
function readRow(page, order) {
  return page.evaluate((id) => {
    const li = document.querySelector(`#orders-list li.order[data-order-id="${id}"]`);
    if (!li) return null;
    const d = li.querySelector('details.order-delivery');
    return {
      status: li.dataset.status,
      words: li.querySelector('.order-status').textContent.trim(),
      buyer: li.querySelector('.order-buyer').textContent,
      id: li.querySelector('.order-id').textContent,
      items: li.querySelector('.order-items').textContent,
      total: li.querySelector('.order-total').textContent,
      time: li.querySelector('.order-time').textContent,
      refund: !!li.querySelector('button.refund'),
      details: d ? { open: d.open, text: d.textContent } : null,
      note: (li.querySelector('.order-note') || { textContent: '' }).textContent,
    };
  }, order.id);
}

const stockOf = async (product) => (await getJson(`/api/products/${product}`, creator)).stock;
const orderOf = (order) => getJson(`/api/shows/${show}/orders/${order.id}`, creator);
const row = (order) => `#orders-list li.order[data-order-id="${order.id}"]`;

async function ordersScenario() {
  const browser = await step('launch chromium', () => launchBrowser('studio-orders'));
  // The creator runs the show from a phone.
  const studio = await step('open the studio at phone size', async () => {
    const ctx = await person(browser, base, 'studio', PHONE);
    const page = await ctx.newPage();
    pages.studio = page;
    const res = await page.goto(`${base}/studio/${show}#token=${creator}`, { waitUntil: 'load' });
    check(res && res.status() === 200, `GET /studio answered ${res && res.status()}`);
    await until(page, () => window.livesale && window.livesale.ready === true, null, 'window.livesale.ready');
    await until(page, () => document.body.dataset.conn === 'open', null, 'the live room to open');
    const empty = await until(page, () => {
      const e = document.querySelector('#orders-empty');
      return e && !e.hidden && e.textContent.trim();
    }, null, 'the empty order list');
    check(empty === 'No orders yet.', `the empty list says ${empty}`);
    check(await page.evaluate(() => document.querySelectorAll('#orders-list li').length === 0), 'rows in an empty list');
    // Live, with the mug pinned: the lineup shows its live stock.
    for (const [path, body] of [[`/api/shows/${show}/start`, {}], [`/api/shows/${show}/pins`, { product_id: products[0] }]]) {
      const r = await api(base, 'POST', path, creator, body);
      check(r.status === 200 || r.status === 201, `POST ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
    }
    await until(page, () => document.querySelector('#show-state').dataset.state === 'live', null, 'the studio to be live');
    return page;
  });

  const stockBefore = await step('stock before', () => stockOf(products[0]));
  const first = await step('a viewer buys: the list shows the paid order', async () => {
    const order = await buy('Ada', products[0], 2);
    await until(studio, (s) => !!document.querySelector(s), row(order), 'the order in the studio list');
    const r = await readRow(studio, order);
    check(r.status === 'paid' && r.words === 'Paid', `the row says ${JSON.stringify(r)}`);
    check(r.buyer === 'Ada', `the buyer shows as ${r.buyer}`);
    check(r.id === `#${order.id.replace(/-/g, '').slice(-8)}`, `the short id is ${r.id}`);
    check(/2 × Speckled mug/.test(r.items), `the items say ${r.items}`);
    check(r.total === '$36.00', `the total says ${r.total}`);
    check(/\d/.test(r.time), `no time: ${r.time}`);
    check(r.refund, 'a paid order has no Refund button');
    // Email and address show when the server kept them (a Stripe order keeps them; the built-in
    // test provider pays at checkout without keeping them).
    const kept = await orderOf(order);
    check(!!r.details === !!(kept.email || kept.shipping), `details ${JSON.stringify(r.details)} for ${JSON.stringify(kept)}`);
    check(await studio.evaluate(() => document.querySelector('#orders-empty').hidden), 'the empty note stayed');
    await until(studio, () => document.querySelector('#stat-orders').textContent.trim() === '1', null, '#stat-orders to be 1');
    const stock = await stockOf(products[0]);
    check(stock === stockBefore - 2, `stock is ${stock} after buying 2 of ${stockBefore}`);
    return order;
  });

  await step('a paid order with an email and address: folded, unfolds', async () => {
    // The built-in provider keeps no address, so the list's answer gets the ones a Stripe
    // checkout keeps (the same fields, docs: API.md "Payments with Stripe"), for this one look.
    const route = `${base}/api/shows/${show}/orders`;
    await studio.route(route, async (r) => {
      const res = await r.fetch();
      const answer = await res.json();
      for (const o of answer.orders) {
        if (o.id !== first.id) continue;
        o.email = o.email || 'ada@example.com';
        o.shipping = o.shipping || { name: 'Ada Lovelace', line1: '12 Analytical Row', city: 'London', postal_code: 'N1 9GU', country: 'GB' };
      }
      await r.fulfill({ response: res, json: answer });
    });
    await studio.evaluate(() => window.livesale.refreshOrders());
    await until(studio, (s) => !!document.querySelector(`${s} details.order-delivery`), row(first), 'the folded details');
    check(!(await readRow(studio, first)).details.open, 'the email and address are not folded');
    await studio.unroute(route);
    await studio.click(`${row(first)} details.order-delivery summary`);
    const r = await readRow(studio, first);
    check(r.details.open, 'the details did not open');
    for (const want of ['ada@example.com', 'Ada Lovelace', '12 Analytical Row', 'London', 'GB']) {
      check(r.details.text.includes(want), `the details lack ${want}: ${r.details.text}`);
    }
    return { text: r.details.text };
  });

  const second = await step('a second purchase: newest first', async () => {
    const order = await buy('Noa', products[2], 1);
    await until(studio, (id) => {
      const rows = document.querySelectorAll('#orders-list li.order');
      return rows.length === 2 && rows[0].dataset.orderId === id;
    }, order.id, 'the second order at the top of the list');
    const ids = await studio.evaluate(() => [...document.querySelectorAll('#orders-list .order-id')].map((e) => e.textContent));
    check(ids[0] !== ids[1], `two orders share the short id ${ids[0]}`);
    return order;
  });

  await step('Refund asks first; Esc keeps the order', async () => {
    await studio.click(`${row(first)} button.refund`);
    await until(studio, () => document.querySelector('#refund-dialog').open, null, 'the refund dialog');
    const d = await studio.evaluate(() => {
      const dialog = document.querySelector('#refund-dialog');
      const label = document.getElementById(dialog.getAttribute('aria-labelledby'));
      return {
        label: label && label.textContent,
        body: dialog.querySelector('#refund-dialog-body').textContent,
        focus: document.activeElement && document.activeElement.id,
      };
    });
    check(d.label === 'Refund this order?', `the dialog is labelled ${d.label}`);
    check(/\$36\.00/.test(d.body) && /Ada/.test(d.body), `the dialog says ${d.body}`);
    check(d.focus === 'refund-cancel', `the focus is on #${d.focus}, not the safe choice`);
    d.artifacts = await artifactsAtBothSizes(studio, 'studio-refund-dialog');
    await studio.keyboard.press('Escape');
    await until(studio, () => !document.querySelector('#refund-dialog').open, null, 'Esc to close the dialog');
    const back = await studio.evaluate((s) => document.activeElement === document.querySelector(`${s} button.refund`), row(first));
    check(back, 'the focus did not return to the Refund button');
    const o = await orderOf(first);
    check(o.status === 'paid', `Esc changed the order to ${o.status}`);
    return d;
  });

  await step('the payment service down: the refusal in words, nothing refunded', async () => {
    const route = `${base}/api/shows/${show}/orders/${second.id}/refund`;
    await studio.route(route, (r) => r.fulfill({
      status: 503,
      headers: { 'Retry-After': '5' },
      contentType: 'application/problem+json',
      body: JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, code: 'payment_unavailable', detail: 'internal words' }),
    }));
    await studio.click(`${row(second)} button.refund`);
    await until(studio, () => document.querySelector('#refund-dialog').open, null, 'the refund dialog');
    await studio.click('#refund-confirm');
    const msg = await until(studio, () => {
      const e = document.querySelector('#refund-error');
      return e && !e.hidden && e.textContent.trim();
    }, null, 'the refusal in the dialog');
    check(/cannot be reached/.test(msg) && /5 s/.test(msg) && !/internal/.test(msg), `the dialog says ${msg}`);
    check(!(await studio.isDisabled('#refund-confirm')), 'the Refund button stayed disabled');
    await studio.unroute(route);
    await studio.click('#refund-cancel');
    await until(studio, () => !document.querySelector('#refund-dialog').open, null, 'the dialog to close');
    return { message: msg };
  });

  await step('the creator refunds through the dialog', async () => {
    await studio.click(`${row(first)} button.refund`);
    await until(studio, () => document.querySelector('#refund-dialog').open, null, 'the refund dialog');
    await studio.click('#refund-confirm');
    await until(studio, () => !document.querySelector('#refund-dialog').open, null, 'the dialog to close after the refund');
    await until(studio, (s) => {
      const li = document.querySelector(s);
      return li && li.dataset.status === 'refunded';
    }, row(first), 'the row to say refunded');
    const r = await readRow(studio, first);
    check(r.words === 'Refunded', `the status says ${r.words}`);
    check(!r.refund, 'a refunded order still offers a refund');
    check(/Refunded \$36\.00 to Ada/.test(r.note), `the row's note says ${r.note}`);
    const toastSeen = await studio.evaluate(() => [...document.querySelectorAll('#toasts .toast')].some((t) => /Refunded \$36\.00/.test(t.textContent)));
    check(toastSeen, 'no toast said the refund');
    const focus = await studio.evaluate((s) => document.activeElement === document.querySelector(s), row(first));
    check(focus, 'the focus did not land on the refunded row');
    // The numbers follow: one paid order left (the vase, $52.00).
    await until(studio, () => document.querySelector('#stat-orders').textContent.trim() === '1'
      && /52\.00/.test(document.querySelector('#stat-revenue').textContent), null, 'the numbers without the refunded order');
    return r;
  });

  await step('the server agrees: refunded, stock back, no second refund', async () => {
    const o = await orderOf(first);
    check(o.status === 'refunded' && o.refunded_at, `GET order says ${JSON.stringify(o)}`);
    const stock = await stockOf(products[0]);
    check(stock === stockBefore, `stock is ${stock}, not back to ${stockBefore}`);
    // The lineup's live stock came back too (pin.updated).
    await until(studio, ([s, n]) => document.querySelector(`${s} .stock`).textContent === `${n} in stock`,
      [`#lineup .lineup-item[data-product-id="${products[0]}"]`, stockBefore], 'the lineup stock back');
    const again = await api(base, 'POST', `/api/shows/${show}/orders/${first.id}/refund`, creator);
    check(again.status === 409 && again.body.code === 'order_not_refundable', `a second refund answered ${again.status}: ${JSON.stringify(again.body)}`);
    return { status: o.status, stock, second_refund: again.status };
  });

  await step('refunded elsewhere: the stale Refund says why, the row catches up', async () => {
    // Another tab refunds the second order; this page still offers it.
    const r = await api(base, 'POST', `/api/shows/${show}/orders/${second.id}/refund`, creator);
    check(r.status === 200, `the refund answered ${r.status}`);
    await studio.click(`${row(second)} button.refund`);
    await until(studio, () => document.querySelector('#refund-dialog').open, null, 'the refund dialog');
    await studio.click('#refund-confirm');
    const msg = await until(studio, () => {
      const e = document.querySelector('#refund-error');
      return e && !e.hidden && e.textContent.trim();
    }, null, 'the refusal in the dialog');
    check(/cannot be refunded/.test(msg), `the dialog says ${msg}`);
    await until(studio, (s) => document.querySelector(s).dataset.status === 'refunded', row(second), 'the row to catch up');
    await studio.keyboard.press('Escape');
    await until(studio, () => !document.querySelector('#refund-dialog').open, null, 'the dialog to close');
    const left = await studio.evaluate(() => document.querySelectorAll('#orders-list button.refund').length);
    check(left === 0, `${left} Refund buttons left with every order refunded`);
    return { message: msg };
  });

  const artifacts = await step('screenshots at phone and desktop sizes', async () => {
    await studio.evaluate(() => { for (const d of document.querySelectorAll('#orders-list details')) d.open = true; });
    return artifactsAtBothSizes(studio, 'studio-orders');
  });

  await finish({ ok: true, ...result, order: first.id, artifacts: [...artifacts, ...result.steps['Refund asks first; Esc keeps the order'].artifacts] });
}

// ---- scenario `chapters`: a marker live, rename and hide after the end ------------------------

async function chaptersScenario() {
  const browser = await step('launch chromium', () => launchBrowser('studio-chapters'));
  // The creator runs the show from a phone: the Marker button must be usable at that width.
  const studio = await step('open the studio at phone size, live, a product pinned', async () => {
    const ctx = await person(browser, base, 'studio', PHONE);
    const page = await ctx.newPage();
    pages.studio = page;
    const res = await page.goto(`${base}/studio/${show}#token=${creator}`, { waitUntil: 'load' });
    check(res && res.status() === 200, `GET /studio answered ${res && res.status()}`);
    await until(page, () => window.livesale && window.livesale.ready === true, null, 'window.livesale.ready');
    await until(page, () => document.body.dataset.conn === 'open', null, 'the live room to open');
    for (const [path, body] of [[`/api/shows/${show}/start`, {}], [`/api/shows/${show}/pins`, { product_id: products[0] }]]) {
      const r = await api(base, 'POST', path, creator, body);
      check(r.status === 200 || r.status === 201, `POST ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
    }
    await until(page, () => document.querySelector('#show-state').dataset.state === 'live', null, 'the studio to be live');
    // The pin's chapter appears by itself (the studio reloads the list after pin.updated).
    await until(page, () => !!document.querySelector('#chapter-list li[data-kind="pin"]'), null, 'the pin chapter in the list');
    return page;
  });

  const marker = await step('add a marker live: confirmed, listed', async () => {
    const button = studio.locator('#add-marker');
    check(await button.isEnabled(), 'the Marker button is disabled while live');
    const box = await button.boundingBox();
    check(box && box.x >= 0 && box.x + box.width <= PHONE.width + 1, `the Marker button is off screen at phone width: ${JSON.stringify(box)}`);
    await studio.fill('#marker-title', 'Big reveal');
    await button.click();
    const status = await until(studio, () => {
      const t = document.querySelector('#marker-status').textContent;
      return t.includes('Big reveal') ? t : null;
    }, null, 'the marker confirmation');
    const row = await until(studio, () => {
      const li = document.querySelector('#chapter-list li[data-kind="marker"]');
      return li ? { id: li.dataset.chapterId, title: li.querySelector('.chapter-title').value } : null;
    }, null, 'the marker in the chapter list');
    check(row.title === 'Big reveal', `the marker row says ${row.title}`);
    const listed = await getJson(`/api/shows/${show}/chapters`);
    const m = listed.chapters.find((c) => c.kind === 'marker');
    check(m && m.title === 'Big reveal' && m.id === row.id, `the server lists ${JSON.stringify(listed)}`);
    return { status, id: row.id };
  });

  await step('after the end: Marker is off', async () => {
    const r = await api(base, 'POST', `/api/shows/${show}/end`, creator, {});
    check(r.status === 200, `POST end answered ${r.status}`);
    await until(studio, () => document.querySelector('#show-state').dataset.state === 'ended', null, 'the studio to show the end');
    await until(studio, () => document.querySelector('#add-marker').disabled, null, 'the Marker button to be disabled');
  });

  const renamed = await step('rename a chapter after the end', async () => {
    await studio.reload({ waitUntil: 'load' });
    await until(studio, () => window.livesale && window.livesale.ready === true, null, 'window.livesale.ready');
    const row = studio.locator('#chapter-list li[data-kind="pin"]');
    await row.locator('.chapter-title').fill('First look at the mug');
    // The field holds the new title as soon as it is typed: wait for the server's answer.
    const patched = studio.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().includes(`/api/shows/${show}/chapters/`));
    await row.locator('.chapter-rename').click();
    const answer = await patched;
    check(answer.status() === 200, `PATCH answered ${answer.status()}: ${await answer.text()}`);
    await until(studio, () => {
      const li = document.querySelector('#chapter-list li[data-kind="pin"]');
      return li && li.querySelector('.chapter-title').value === 'First look at the mug';
    }, null, 'the renamed row');
    const listed = await getJson(`/api/shows/${show}/chapters`);
    const pin = listed.chapters.find((c) => c.kind === 'pin');
    check(pin && pin.title === 'First look at the mug', `the server lists ${JSON.stringify(listed)}`);
    return { title: pin.title };
  });

  const hidden = await step('hide the marker after the end', async () => {
    const row = studio.locator(`#chapter-list li[data-chapter-id="${marker.id}"]`);
    await row.locator('.chapter-hide').click();
    await until(studio, (id) => {
      const li = document.querySelector(`#chapter-list li[data-chapter-id="${id}"]`);
      return li && li.dataset.hidden === 'true' && li.querySelector('.chapter-hide').textContent === 'Show';
    }, marker.id, 'the hidden row');
    const pub = await getJson(`/api/shows/${show}/chapters`);
    check(!pub.chapters.some((c) => c.id === marker.id), `the public list still has the marker: ${JSON.stringify(pub)}`);
    const all = await getJson(`/api/shows/${show}/chapters?all=true`, creator);
    const m = all.chapters.find((c) => c.id === marker.id);
    check(m && m.hidden === true, `the creator's list: ${JSON.stringify(all)}`);
    return { public: pub.chapters.length, all: all.chapters.length };
  });

  const artifacts = await step('screenshots at phone and desktop sizes', () => artifactsAtBothSizes(studio, 'studio-chapters'));
  await finish({ ok: true, ...result, marker: marker.id, renamed: renamed.title, hidden, artifacts });
}

// Each scenario ends the run itself (finish() prints the result and exits): `orders` never
// reaches the show below.
if (opts.scenario === 'orders') await ordersScenario();
else if (opts.scenario === 'chapters') await chaptersScenario();
else if (opts.scenario !== 'show') await fail('arguments', new Error(`unknown --scenario ${opts.scenario}`));

// ---- scenario `show` (the default): a show from the studio ------------------------------------

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
