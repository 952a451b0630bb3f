#!/usr/bin/env node
// The viewer page (/s/{show}) in headless Chromium against a running livesale server, one
// scenario per run (tests/browser_apps/viewer.rs runs each):
//
//   lifecycle  a show scheduled in two hours says "Starts in …"; a guest picks a name to chat
//              and the page remembers it after a reload; the creator starts the show (the page
//              turns live, "we'll be right back" with no camera) and ends it (the page says it
//              ended), all without a reload; another show cancelled with its page open says it
//              was cancelled, and again after a reload.
//   chat       two viewers chat both ways: markup arrives as literal text (no element, no
//              alert), Hebrew/Arabic text is laid out right to left; taps at one viewer become
//              bursts at the other (capped); a network drop shows #conn-status and the messages
//              sent meanwhile appear exactly once after the page resumes.
//   shop       a pinned flash deal: price struck through, deal price, a countdown that runs,
//              "N left"; add to cart (after picking a name), the drawer's quantities and total,
//              Esc closes it, checkout answers 201 with an Idempotency-Key and shows the order;
//              the other viewer sees N left drop and the purchase toast; a checkout that lost
//              the race for the last units says "sold out" in words.
//   video      nothing on air: "we'll be right back"; a canvas camera publishes over WHIP and is
//              put on air: a guest's video plays (frames advancing), muted, and #unmute unmutes.
//
//   node tests/browser/viewer.mjs --base URL --show ID --creator-token T --moderator-token T \
//     --product ID --product ID --product ID --scenario NAME [--deadline-ms N]
//
// Prints one JSON line (see lib.mjs): {"ok", "scenario", "steps": {name: details}, ...}.

import {
  api, artifactsAtBothSizes, fail, finish, framesAdvancing, launchBrowser, log, person, scenario, sleep, until,
  PHONE, DESKTOP,
} from './lib.mjs';

const { opts, base, show, creator, products, state, steps, pages, step } = await scenario(
  (o) => `viewer-${o.scenario}`,
  { scenario: { type: 'string' } },
  {
    required: ['scenario'],
    dump: (page) => page.evaluate(() => ({
      conn: document.body.dataset.conn,
      state: document.querySelector('#show-state')?.dataset.state,
      stage: document.querySelector('#stage-state')?.textContent.trim(),
      chat: Array.from(document.querySelectorAll('#chat-list .msg')).map((m) => m.textContent).slice(-10),
      errors: Array.from(document.querySelectorAll('.field-error:not([hidden]), .toast')).map((x) => x.textContent),
      video: window.livesale && window.livesale.video,
    })),
  },
);
state.partial.scenario = opts.scenario;

async function must(method, path, token, body, want = [200, 201, 204]) {
  const r = await api(base, method, path, token, body);
  if (!want.includes(r.status)) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const browser = await step('launch chromium', () => launchBrowser(`viewer-${opts.scenario}`));

/** A person with the viewer page of `showId` open and its live room connected. */
async function openViewer(label, size, showId = show) {
  const ctx = await person(browser, base, label, size);
  const page = await ctx.newPage();
  pages[label] = page;
  page.dialogs = 0;
  page.on('dialog', (d) => { page.dialogs += 1; d.dismiss().catch(() => {}); });
  const res = await page.goto(`${base}/s/${showId}`);
  if (!res || res.status() !== 200) throw new Error(`GET /s/${showId} answered ${res && res.status()}`);
  await ready(page, label);
  return page;
}

async function ready(page, label) {
  await until(page, () => window.livesale && window.livesale.ready && document.body.dataset.conn === 'open',
    null, `the ${label} page's live room`);
}

const visible = (page, sel) => page.locator(sel).first().isVisible();

/** Types `text` in the chat; a guest is asked for `name` first (the message is sent after). */
async function chat(page, text, name) {
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
  if (name && await visible(page, '#join-form')) {
    await page.fill('#display-name', name);
    await page.press('#display-name', 'Enter');
    await until(page, () => document.querySelector('#join-form').hidden, null, 'the name form to close');
  }
  await until(page, (t) => Array.from(document.querySelectorAll('#chat-list .msg .text')).some((e) => e.textContent === t),
    text, `"${text}" in the sender's own chat`);
}

function textsIn(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll('#chat-list .msg .text')).map((e) => e.textContent));
}

// ---- lifecycle --------------------------------------------------------------------------------
async function lifecycle() {
  const later = await step('a show scheduled in two hours', async () => {
    const at = new Date(Date.now() + 2 * 3600 * 1000 + 60000).toISOString();
    const s = await must('POST', '/api/shows', creator, { title: 'Sunday glaze sale', scheduled_at: at });
    return s.id;
  });
  const page = await step('open the viewer page', () => openViewer('viewer', PHONE, later));
  await step('scheduled: starts in', async () => {
    const st = await page.getAttribute('#show-state', 'data-state');
    if (st !== 'scheduled') throw new Error(`#show-state data-state is ${st}`);
    const text = await until(page, () => {
      const t = document.querySelector('#show-state').textContent.trim();
      return /starts in/i.test(t) && /hour/i.test(t) && t;
    }, null, '"Starts in 2 hours"');
    const headline = await page.textContent('#stage-headline');
    if (!/starts in/i.test(headline)) throw new Error(`the stage says '${headline}'`);
    if (!(await visible(page, '#stage-state'))) throw new Error('the stage state is not visible');
    await artifactsAtBothSizes(page, 'viewer-scheduled');
    return { text, headline };
  });
  await step('a guest picks a name to chat', async () => {
    if (await visible(page, '#join-form')) throw new Error('the name form shows before anyone needs it');
    await chat(page, 'First! Can not wait', 'Noa');
    const who = await page.evaluate(() => Array.from(document.querySelectorAll('#chat-list .msg .who')).map((e) => e.textContent));
    if (!who.includes('Noa')) throw new Error(`authors in chat: ${JSON.stringify(who)}`);
    return { who };
  });
  await step('name remembered after reload', async () => {
    await page.reload();
    await ready(page, 'reloaded viewer');
    const text = `Back again ${Date.now()}`;
    await page.fill('#chat-input', text);
    await page.press('#chat-input', 'Enter');
    await sleep(200);
    if (await visible(page, '#join-form')) throw new Error('the name form came back after a reload');
    await until(page, (t) => Array.from(document.querySelectorAll('#chat-list .msg'))
      .some((m) => m.querySelector('.text').textContent === t && m.querySelector('.who').textContent === 'Noa'),
    text, 'the message under the remembered name');
    const name = await page.evaluate(() => window.livesale.state.name);
    return { name };
  });
  await step('live without a reload', async () => {
    await must('POST', `/api/shows/${later}/start`, creator, {});
    await until(page, () => document.querySelector('#show-state').dataset.state === 'live', null, '#show-state live');
    // No camera yet: "we'll be right back".
    const headline = await until(page, () => {
      const t = document.querySelector('#stage-headline').textContent;
      return /right back/i.test(t) && t;
    }, null, '"We\'ll be right back"');
    await artifactsAtBothSizes(page, 'viewer-live-right-back');
    return { state: 'live', headline };
  });
  await step('ended without a reload', async () => {
    await must('POST', `/api/shows/${later}/end`, creator, {});
    await until(page, () => document.querySelector('#show-state').dataset.state === 'ended', null, '#show-state ended');
    const headline = await until(page, () => {
      const t = document.querySelector('#stage-headline').textContent;
      return /ended/i.test(t) && t;
    }, null, 'the ended message');
    await artifactsAtBothSizes(page, 'viewer-ended');
    return { state: 'ended', headline };
  });
  await step('cancelled without a reload', async () => {
    const at = new Date(Date.now() + 24 * 3600 * 1000).toISOString();
    const off = await must('POST', '/api/shows', creator, { title: 'Called-off sale', scheduled_at: at });
    const other = await openViewer('viewer-cancelled', PHONE, off.id);
    await must('POST', `/api/shows/${off.id}/cancel`, creator, {});
    await until(other, () => document.querySelector('#show-state').dataset.state === 'cancelled', null, '#show-state cancelled');
    const headline = await until(other, () => {
      const t = document.querySelector('#stage-headline').textContent;
      return /was cancelled/i.test(t) && t;
    }, null, 'the cancelled message');
    await other.reload();
    await ready(other, 'reloaded cancelled viewer');
    const reloaded = await other.textContent('#stage-headline');
    if (!/was cancelled/i.test(reloaded)) throw new Error(`after a reload the stage says '${reloaded}'`);
    const badge = (await other.textContent('#show-state')).trim();
    await artifactsAtBothSizes(other, 'viewer-cancelled');
    return { state: 'cancelled', headline, reloaded, badge };
  });
  return { show_id: later };
}

// ---- chat -------------------------------------------------------------------------------------
async function chatScenario() {
  const a = await step('viewer A opens (phone)', () => openViewer('a', PHONE));
  const b = await step('viewer B opens (desktop)', () => openViewer('b', DESKTOP));
  await step('both pick names and chat', async () => {
    await chat(a, 'Hi from A', 'Dana');
    await chat(b, 'Hi from B', 'Lior');
    await until(b, () => Array.from(document.querySelectorAll('#chat-list .msg .text')).some((e) => e.textContent === 'Hi from A'),
      null, 'A\'s message at B');
    await until(a, () => Array.from(document.querySelectorAll('#chat-list .msg .text')).some((e) => e.textContent === 'Hi from B'),
      null, 'B\'s message at A');
  });
  const evil = '<img src=x onerror=alert(1)>';
  await step('markup is text', async () => {
    await chat(a, evil);
    await until(b, (t) => Array.from(document.querySelectorAll('#chat-list .msg .text')).some((e) => e.textContent === t),
      evil, 'the markup as literal text at B');
    await sleep(300);
    const imgs = await b.evaluate(() => document.querySelectorAll('#chat-list img').length);
    const imgsA = await a.evaluate(() => document.querySelectorAll('#chat-list img').length);
    const alerts = a.dialogs + b.dialogs;
    if (imgs || imgsA || alerts) throw new Error(`markup became HTML: ${imgs}+${imgsA} <img>, ${alerts} alerts`);
    return { img_elements: imgs + imgsA, alerts };
  });
  await step('rtl chat', async () => {
    const rtl = 'שלום! האם יש עוד קערות? مرحبا';
    await chat(b, rtl);
    const r = await until(a, (t) => {
      const m = Array.from(document.querySelectorAll('#chat-list .msg')).find((x) => x.querySelector('.text').textContent === t);
      if (!m) return false;
      return { direction: getComputedStyle(m.querySelector('.text')).direction, who: m.querySelector('.who').getAttribute('dir') };
    }, rtl, 'the Hebrew/Arabic message at A');
    if (r.direction !== 'rtl') throw new Error(`computed direction ${r.direction}`);
    await artifactsAtBothSizes(a, 'viewer-chat');
    return r;
  });
  await step('reaction bursts', async () => {
    const before = await b.evaluate(() => document.querySelectorAll('#bursts .burst').length);
    if (before) throw new Error(`B shows ${before} bursts before anyone tapped`);
    // B counts the bursts it renders (every frame), to check the cap too.
    await b.evaluate(() => {
      window.__maxBursts = 0;
      const bursts = document.querySelector('#bursts');
      new MutationObserver(() => {
        window.__maxBursts = Math.max(window.__maxBursts, bursts.querySelectorAll('.burst').length);
      }).observe(bursts, { childList: true });
    });
    for (let i = 0; i < 3; i += 1) await a.click('.react-btn[data-kind="heart"]');
    await a.click('.react-btn[data-kind="fire"]');
    await until(b, () => document.querySelectorAll('#bursts .burst').length > 0, null, 'bursts at B');
    const kinds = await b.evaluate(() => Array.from(document.querySelectorAll('#bursts .burst')).map((x) => x.dataset.kind));
    // A flood: many taps from A within a couple of seconds never put more than the cap on screen.
    for (let i = 0; i < 30; i += 1) await a.click(`.react-btn[data-kind="${['clap', 'wow', 'laugh'][i % 3]}"]`, { delay: 0 });
    await sleep(1500);
    const max = await b.evaluate(() => window.__maxBursts);
    if (max > 30) throw new Error(`${max} bursts on screen at once; the cap is 30`);
    await sleep(3000);
    const left = await b.evaluate(() => document.querySelectorAll('#bursts .burst').length);
    if (left > 0) throw new Error(`${left} bursts still in the DOM 3 s after the last frame`);
    return { bursts: kinds.length, kinds, max_on_screen: max };
  });
  await step('chat error in words', async () => {
    // A message over the length limit: the server refuses it and the page says why.
    await b.evaluate(() => { document.querySelector('#chat-input').removeAttribute('maxlength'); });
    await b.fill('#chat-input', 'x'.repeat(501));
    await b.press('#chat-input', 'Enter');
    const text = await until(b, () => {
      const e = document.querySelector('#chat-error');
      return e && !e.hidden && e.textContent.trim();
    }, null, 'the chat error next to the input');
    if (!/long|at most/i.test(text)) throw new Error(`chat error says '${text}'`);
    return { text };
  });
  await step('network drop resumes', async () => {
    const ctx = b.context();
    await ctx.setOffline(true);
    await b.evaluate(() => window.livesale.room.drop());
    await until(b, () => {
      const c = document.querySelector('#conn-status');
      return c && !c.hidden && c.getClientRects().length > 0 && document.body.dataset.conn === 'reconnecting';
    }, null, '#conn-status while reconnecting');
    const missed = [1, 2, 3].map((i) => `missed ${i} ${Date.now()}`);
    for (const t of missed) await chat(a, t);
    await sleep(1500);
    const stillDown = await b.evaluate(() => document.body.dataset.conn);
    const sawBefore = (await textsIn(b)).filter((t) => missed.includes(t)).length;
    await artifactsAtBothSizes(b, 'viewer-reconnecting');
    await ctx.setOffline(false);
    await until(b, () => document.body.dataset.conn === 'open' && document.querySelector('#conn-status').hidden,
      null, 'B back online with the banner gone', 20000);
    await until(b, (m) => { const t = Array.from(document.querySelectorAll('#chat-list .msg .text')).map((e) => e.textContent); return m.every((x) => t.includes(x)); },
      missed, 'the missed messages at B');
    await sleep(1000);
    const texts = await textsIn(b);
    const counts = missed.map((t) => texts.filter((x) => x === t).length);
    const duplicates = counts.filter((n) => n > 1).length
      + texts.filter((t, i) => texts.indexOf(t) !== i).length;
    const missing = counts.filter((n) => n === 0).length;
    if (duplicates || missing) throw new Error(`after the resume: counts ${JSON.stringify(counts)}, texts ${JSON.stringify(texts)}`);
    // And B's own chat still goes through.
    await chat(b, 'Back online');
    await until(a, () => Array.from(document.querySelectorAll('#chat-list .msg .text')).some((e) => e.textContent === 'Back online'),
      null, 'B\'s message after the resume at A');
    return { banner_seen: true, conn_while_down: stillDown, seen_while_down: sawBefore, duplicates, missing, counts };
  });
}

// ---- shop -------------------------------------------------------------------------------------
async function shop() {
  const [mug, , vase] = products;
  await step('pin a flash deal and a product', async () => {
    await must('POST', `/api/shows/${show}/pins`, creator, {
      product_id: mug,
      deal: { price: 1250, quantity: 10, per_buyer_limit: 3, duration_s: 600 },
    });
    await must('POST', `/api/shows/${show}/pins`, creator, { product_id: vase });
  });
  const a = await step('viewer A opens (phone)', () => openViewer('a', PHONE));
  const b = await step('viewer B opens (desktop)', () => openViewer('b', DESKTOP));
  const card = (id) => `#pins .pin-card[data-product-id="${id}"]`;
  await step('deal card', async () => {
    await until(a, (c) => document.querySelector(c), card(mug), 'the pinned deal card');
    const read = () => a.evaluate((c) => {
      const el = document.querySelector(c);
      const q = (s) => el.querySelector(s)?.textContent.trim() || '';
      return {
        title: q('.pin-title'), price: q('.pin-price'), deal: q('.pin-deal-price'), left: q('.pin-left'),
        countdown: q('.pin-countdown'), seconds: Number(el.querySelector('.pin-countdown')?.dataset.seconds),
        struck: el.querySelector('.pin-price')?.tagName === 'S'
          || getComputedStyle(el.querySelector('.pin-price')).textDecorationLine.includes('line-through'),
        img: !!el.querySelector('img.pin-img')?.getAttribute('src'),
      };
    }, card(mug));
    const first = await read();
    if (first.title !== 'Speckled mug') throw new Error(`title ${first.title}`);
    if (!/18\.00/.test(first.price) || !first.struck) throw new Error(`regular price ${JSON.stringify(first)}`);
    if (!/12\.50/.test(first.deal)) throw new Error(`deal price ${first.deal}`);
    if (!/^10 left$/.test(first.left)) throw new Error(`left: ${first.left}`);
    if (!/\d+:\d\d/.test(first.countdown) || !(first.seconds > 500)) throw new Error(`countdown ${first.countdown}`);
    if (!first.img) throw new Error('no product image');
    await sleep(2200);
    const second = await read();
    if (!(second.seconds < first.seconds)) throw new Error(`countdown did not run: ${first.countdown} then ${second.countdown}`);
    const vaseLeft = await a.textContent(`${card(vase)} .pin-left`);
    if (!/5 left/.test(vaseLeft)) throw new Error(`vase: ${vaseLeft}`);
    await artifactsAtBothSizes(a, 'viewer-deal');
    return { ...first, countdown_before: first.seconds, countdown_after: second.seconds };
  });
  await step('add to cart after picking a name', async () => {
    await a.click(`${card(mug)} .add-to-cart`);
    await until(a, () => !document.querySelector('#join-form').hidden, null, 'the name form');
    await a.fill('#display-name', 'Dana');
    await a.press('#display-name', 'Enter');
    await until(a, () => document.querySelector('#cart-count').textContent.trim() === '1', null, 'cart count 1');
    await until(a, () => document.querySelector('#join-form').hidden, null, 'the name form to close');
  });
  await step('cart drawer quantities and total', async () => {
    await a.click('#cart-button');
    await until(a, () => !document.querySelector('#cart-drawer').hidden && document.querySelector('#cart-drawer .cart-item'),
      null, 'the drawer with the mug');
    const focusIn = await a.evaluate(() => document.querySelector('#cart-drawer').contains(document.activeElement));
    if (!focusIn) throw new Error('focus did not move into the drawer');
    await a.click(`#cart-drawer .cart-item[data-product-id="${mug}"] .qty-plus`);
    await until(a, () => /25\.00/.test(document.querySelector('#cart-total').textContent), null, 'total $25.00 for two');
    await a.click(`#cart-drawer .cart-item[data-product-id="${mug}"] .qty-minus`);
    await until(a, () => /12\.50/.test(document.querySelector('#cart-total').textContent)
      && document.querySelector('#cart-count').textContent.trim() === '1', null, 'total $12.50 for one');
    await artifactsAtBothSizes(a, 'viewer-cart');
    await a.keyboard.press('Escape');
    await until(a, () => document.querySelector('#cart-drawer').hidden && document.activeElement === document.querySelector('#cart-button'),
      null, 'Esc to close the drawer and give focus back');
    return { total: await a.textContent('#cart-total') };
  });
  const leftBefore = await b.textContent(`${card(mug)} .pin-left`);
  const toastsBefore = await b.evaluate(() => document.querySelectorAll('.toast-purchase').length);
  await step('checkout', async () => {
    await a.click('#cart-button');
    await until(a, () => document.querySelector('#cart-drawer .cart-item'), null, 'the drawer');
    const [resp] = await Promise.all([
      a.waitForResponse((r) => r.url().endsWith(`/api/shows/${show}/checkout`) && r.request().method() === 'POST', { timeout: 15000 }),
      a.click('#checkout'),
    ]);
    const key = resp.request().headers()['idempotency-key'];
    if (!key) throw new Error('the checkout had no Idempotency-Key');
    const status = resp.status();
    if (status !== 201) throw new Error(`checkout answered ${status}: ${await resp.text()}`);
    const confirmation = await until(a, () => {
      const c = document.querySelector('#order-confirmation');
      return c && !c.hidden && c.textContent.trim();
    }, null, 'the order confirmation');
    await until(a, () => document.querySelector('#cart-count').textContent.trim() === '0', null, 'an empty cart after the order');
    await artifactsAtBothSizes(a, 'viewer-order');
    await a.keyboard.press('Escape');
    return { status, key_present: true, confirmation };
  });
  await step('the other viewer sees N left drop and the toast', async () => {
    await until(b, ([c, was]) => {
      const t = document.querySelector(`${c} .pin-left`)?.textContent.trim();
      return t && t !== was && /^9 left$/.test(t);
    }, [card(mug), leftBefore], `"9 left" at B (was "${leftBefore}")`);
    const toast = await until(b, (n) => {
      const t = Array.from(document.querySelectorAll('.toast-purchase'));
      const hit = t.find((x) => /Dana/.test(x.textContent) && /Speckled mug/.test(x.textContent));
      return t.length > n && hit && hit.textContent;
    }, toastsBefore, 'the purchase toast at B');
    return { left_before: leftBefore, toast };
  });
  await step('sold out explained', async () => {
    // A puts the vase in the cart; someone else buys every vase first; A's checkout is refused.
    await a.click(`${card(vase)} .add-to-cart`);
    await until(a, () => document.querySelector('#cart-count').textContent.trim() === '1', null, 'the vase in the cart');
    const other = await must('POST', `/api/shows/${show}/viewers`, null, { display_name: 'Quick Buyer' });
    await must('PUT', `/api/shows/${show}/cart/items/${vase}`, other.token, { quantity: 5 });
    const res = await fetch(`${base}/api/shows/${show}/checkout`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${other.token}`, 'Idempotency-Key': `quick-${Date.now()}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    if (res.status !== 201) throw new Error(`the other buyer's checkout answered ${res.status}: ${await res.text()}`);
    await until(b, (c) => /sold out/i.test(document.querySelector(`${c} .pin-left`)?.textContent || '')
      && document.querySelector(`${c} .add-to-cart`).disabled, card(vase), 'the vase card sold out at B');
    await a.click('#cart-button');
    await until(a, () => document.querySelector('#cart-drawer .cart-item'), null, 'the drawer');
    const [resp] = await Promise.all([
      a.waitForResponse((r) => r.url().endsWith('/checkout'), { timeout: 15000 }),
      a.click('#checkout'),
    ]);
    if (resp.status() !== 409) throw new Error(`checkout answered ${resp.status()}, not 409`);
    const message = await until(a, () => {
      const e = document.querySelector('#cart-error');
      return e && !e.hidden && e.textContent.trim();
    }, null, 'the sold-out message in the drawer');
    if (!/sold out/i.test(message)) throw new Error(`the drawer says '${message}'`);
    const enabled = await a.evaluate(() => !document.querySelector('#checkout').disabled);
    if (!enabled) throw new Error('the checkout button stayed disabled after the error');
    await artifactsAtBothSizes(a, 'viewer-sold-out');
    return { status: resp.status(), message };
  });
}

// ---- video ------------------------------------------------------------------------------------
async function video() {
  const a = await step('a guest opens the page (phone)', () => openViewer('a', PHONE));
  await step('nothing on air', async () => {
    const headline = await until(a, () => {
      const t = document.querySelector('#stage-headline').textContent;
      return /right back/i.test(t) && !document.querySelector('#stage-state').hidden && t;
    }, null, '"We\'ll be right back"');
    return { right_back: true, headline };
  });
  const invite = await step('a camera invite', () =>
    must('POST', `/api/shows/${show}/invites`, creator, { role: 'camera', label: 'Red cam' }));
  const cam = await step('the camera publishes', async () => {
    const ctx = await person(browser, base, 'camera', DESKTOP);
    const page = await ctx.newPage();
    pages.camera = page;
    await page.goto(`${base}/static/test/whip-canvas.html?colour=red`);
    await until(page, () => window.whipReady === true, null, 'the canvas camera page');
    const r = await page.evaluate((x) => window.whip.start(x), { endpoint: `${base}/api/shows/${show}/whip`, token: invite.token });
    if (r.status !== 201) throw new Error(`WHIP answered ${JSON.stringify(r)}`);
    for (let i = 0; i < 100; i += 1) {
      const list = await must('GET', `/api/shows/${show}/cameras`, creator);
      if (list.cameras.length) return list.cameras[0];
      await sleep(100);
    }
    throw new Error('no camera listed');
  });
  await step('on air', async () => {
    await must('POST', `/api/shows/${show}/program`, creator, { camera: cam.id });
    await until(a, () => !/right back/i.test(document.querySelector('#stage-headline').textContent)
      || document.querySelector('#stage-state').hidden, null, 'the waiting state to go', 20000);
  });
  await step('video plays', async () => {
    await until(a, () => { const v = document.querySelector('video#program'); return v.videoWidth > 0 && v.readyState >= 2; },
      null, 'frames in video#program', 25000);
    const r = {
      ...await framesAdvancing(a, 'video#program'),
      ...await a.evaluate(() => ({
        muted: document.querySelector('video#program').muted,
        unmute_visible: !document.querySelector('#unmute').hidden && document.querySelector('#unmute').getClientRects().length > 0,
        stage_hidden: document.querySelector('#stage-state').hidden,
      })),
    };
    if (r.frames < 5 || !(r.advanced > 0)) throw new Error(`video: ${JSON.stringify(r)}`);
    if (!r.muted || !r.unmute_visible) throw new Error(`the video should start muted with #unmute shown: ${JSON.stringify(r)}`);
    await artifactsAtBothSizes(a, 'viewer-live-video');
    return r;
  });
  await step('unmute', async () => {
    await a.click('#unmute');
    const muted = await a.evaluate(() => document.querySelector('video#program').muted);
    const pressed = await a.getAttribute('#unmute', 'aria-pressed');
    if (muted) throw new Error('still muted after #unmute');
    return { muted, pressed };
  });
}

const scenarios = { lifecycle, chat: chatScenario, shop, video };
const run = scenarios[opts.scenario];
if (!run) await fail('arguments', new Error(`unknown scenario ${opts.scenario}`));
const extra = (await run()) || {};
await finish({ ok: true, scenario: opts.scenario, steps, ...extra });
