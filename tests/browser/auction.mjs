#!/usr/bin/env node
// A live auction from the viewer page, in headless Chromium against a running livesale server
// (tests/browser_apps/auction.rs runs it; docs/viewer.md, "Auctions"):
//
//   1. the studio is open; two viewers are on the viewer page: Ada at phone size (a guest who
//      picks her name when she first bids) and Ben at desktop size (a named viewer's link);
//   2. the creator starts a soft-close lot over HTTP; both pages show the card with "Bid $10.00"
//      and a countdown, and at phone size the card and its bid button are on screen;
//   3. Ada bids (the name form, then the first bid's confirmation): she is winning, Ben sees her
//      as the leader and "Bid $11.00"; Ben bids: Ada sees "You've been outbid" and re-bids in one
//      tap (no confirmation the second time); Ben sets a max bid in the sheet and leads by proxy;
//      Ada raises, and Ben's proxy answers at once (she is outbid again);
//   4. the lot closes on its own: Ben's card says he won and that his order is paid; Ada's says
//      "Sold to Ben for $15.00"; the studio shows the result and the bid log.
//
//   node tests/browser/auction.mjs --base URL --show ID --creator-token T --moderator-token T \
//     --product ID [--product ID …] [--deadline-ms N]
//
// Prints one JSON line (see lib.mjs): {"ok", "steps": {...}, "auction", "order"}.

import {
  api, artifactsAtBothSizes, finish, launchBrowser, person, scenario, until, PHONE, DESKTOP,
} from './lib.mjs';

const { base, show, creator, opts, state, pages, step } = await scenario('auction', {}, {
  deadlineMs: 200000,
  dump: (page) => page.evaluate(() => ({
    conn: document.body.dataset.conn,
    card: document.querySelector('#auction')?.dataset.state,
    status: document.querySelector('#auction-status')?.textContent,
    bid: document.querySelector('#bid-button')?.textContent,
    error: document.querySelector('#auction-error:not([hidden])')?.textContent,
    auction: window.livesale && window.livesale.auction && window.livesale.auction.auction,
  })),
});
const product = opts.product[0];
const result = state.partial;

async function must(method, path, token, body, want = [200, 201]) {
  const r = await api(base, method, path, token, body);
  if (!want.includes(r.status)) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The card's state on `page`: what a person reads on it. */
const card = (page) => page.evaluate(() => ({
  state: document.querySelector('#auction').dataset.state,
  status: document.querySelector('#auction-status').textContent,
  price: document.querySelector('#auction-current').textContent,
  leader: document.querySelector('#auction-leader').textContent,
  bid: document.querySelector('#bid-button').hidden ? null : document.querySelector('#bid-button').textContent,
  countdown: document.querySelector('#auction-countdown').textContent,
}));

/** Waits until the card on `page` is in `state` (its `data-state`) with `text` in its status line. */
function cardSays(page, wanted, text, what, timeout = 15000) {
  return until(page, ({ wanted, text }) => {
    const c = document.querySelector('#auction');
    return !c.hidden && c.dataset.state === wanted
      && document.querySelector('#auction-status').textContent.includes(text);
  }, { wanted, text }, what, timeout);
}

/** Waits until the bid button on `page` says `label`. */
function buttonSays(page, label, what) {
  return until(page, (l) => {
    const b = document.querySelector('#bid-button');
    return !b.hidden && b.textContent === l && !b.disabled;
  }, label, what);
}

const browser = await step('launch chromium', () => launchBrowser('auction'));

// ---- 1. the studio and two viewers -------------------------------------------------------------

const studio = await step('1. the studio opens', async () => {
  const ctx = await person(browser, base, 'studio', DESKTOP);
  const page = await ctx.newPage();
  pages.studio = page;
  await page.goto(`${base}/studio/${show}#token=${creator}`);
  await until(page, () => window.livesale && window.livesale.ready && document.body.dataset.conn === 'open',
    null, 'the studio\'s live room');
  return page;
});

async function openViewer(label, size, hash = '') {
  const ctx = await person(browser, base, label, size);
  const page = await ctx.newPage();
  pages[label] = page;
  await page.goto(`${base}/s/${show}${hash}`);
  await until(page, () => window.livesale && window.livesale.ready && document.body.dataset.conn === 'open',
    null, `the ${label} page's live room`);
  return page;
}
const ada = await step('1. Ada opens the show as a guest (phone)', () => openViewer('ada', PHONE));
const ben = await step('1. Ben opens his viewer link (desktop)', async () => {
  const j = await must('POST', `/api/shows/${show}/viewers`, null, { display_name: 'Ben' });
  const page = await openViewer('ben', DESKTOP, `#token=${j.token}`);
  await until(page, () => !!window.livesale.state.me, null, 'Ben\'s viewer id from the welcome');
  return page;
});

// ---- 2. the creator starts a lot ---------------------------------------------------------------

const lot = await step('2. the creator starts a soft-close lot over HTTP', async () => {
  const a = await must('POST', `/api/shows/${show}/auctions`, creator, {
    product_id: product, start_price: { amount: 1000, currency: 'USD' }, duration_s: 20,
    mode: 'soft_close', extend_s: 10,
  }, [201]);
  if (a.status !== 'open') throw new Error(`the lot is ${a.status}`);
  return { id: a.id, ends_at: a.ends_at };
});

await step('2. both viewers see the card with "Bid $10.00" and a countdown', async () => {
  for (const page of [ada, ben]) {
    await buttonSays(page, 'Bid $10.00', 'the bid button');
    await until(page, () => /^Ends in \d+:\d\d$/.test(document.querySelector('#auction-countdown').textContent),
      null, 'the countdown');
  }
  await until(studio, (id) => {
    const now = document.querySelector('#auction-now');
    return !now.hidden && now.dataset.auctionId === id && now.dataset.status === 'open';
  }, lot.id, 'the studio\'s lot');
  return { ada: await card(ada), ben: await card(ben) };
});

await step('2. at phone width the card and its bid button are on screen', async () => {
  const seen = await ada.evaluate(() => {
    const inView = (el) => {
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0
        && r.right <= window.innerWidth && r.bottom <= window.innerHeight;
    };
    const b = document.querySelector('#bid-button').getBoundingClientRect();
    return {
      card: inView(document.querySelector('#auction')), button: inView(document.querySelector('#bid-button')),
      button_height: Math.round(b.height), width: window.innerWidth,
    };
  });
  if (seen.width !== PHONE.width) throw new Error(`the page is ${seen.width} px wide`);
  if (!seen.card || !seen.button) throw new Error(`off screen at phone width: ${JSON.stringify(seen)}`);
  if (seen.button_height < 44) throw new Error(`the bid button is ${seen.button_height} px tall`);
  // The element under the button's centre is the button (nothing covers it).
  const hit = await ada.evaluate(() => {
    const r = document.querySelector('#bid-button').getBoundingClientRect();
    const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return !!at && !!at.closest('#bid-button');
  });
  if (!hit) throw new Error('something covers the bid button at phone width');
  return seen;
});

// ---- 3. bidding --------------------------------------------------------------------------------

await step('3. Ada bids: she picks her name, confirms the first bid, and is winning', async () => {
  await ada.click('#bid-button');
  await until(ada, () => !document.querySelector('#join-form').hidden, null, 'the name form');
  await ada.fill('#display-name', 'Ada');
  await ada.click('#join-form [type=submit]');
  await until(ada, () => document.querySelector('#bid-confirm').open, null, 'the first bid\'s confirmation');
  const asked = await ada.evaluate(() => document.querySelector('#bid-confirm-body').textContent);
  if (!asked.includes('$10.00')) throw new Error(`the confirmation says "${asked}"`);
  await ada.click('#bid-confirm-ok');
  await cardSays(ada, 'winning', 'You\'re winning', 'Ada winning');
  await until(ben, () => document.querySelector('#auction-leader').textContent === 'Ada'
    && document.querySelector('#auction-current').textContent === '$10.00', null, 'Ben to see Ada lead at $10.00');
  await buttonSays(ben, 'Bid $11.00', 'Ben\'s button to ask $11.00');
  return { asked, ada: await card(ada), ben: await card(ben) };
});

await step('3. Ben bids $11.00: Ada sees that she has been outbid', async () => {
  await ben.click('#bid-button');
  await until(ben, () => document.querySelector('#bid-confirm').open, null, 'Ben\'s confirmation');
  await ben.click('#bid-confirm-ok');
  await cardSays(ben, 'winning', 'You\'re winning', 'Ben winning');
  await cardSays(ada, 'outbid', 'You\'ve been outbid', 'Ada outbid');
  await buttonSays(ada, 'Bid $12.00', 'Ada\'s re-bid button');
  await artifactsAtBothSizes(ada, 'auction-outbid');
  return { ada: await card(ada) };
});

await step('3. Ada re-bids in one tap (no confirmation the second time)', async () => {
  await ada.click('#bid-button');
  await cardSays(ada, 'winning', 'You\'re winning', 'Ada winning again');
  const asked = await ada.evaluate(() => document.querySelector('#bid-confirm').open);
  if (asked) throw new Error('the second bid asked for a confirmation');
  await cardSays(ben, 'outbid', 'You\'ve been outbid', 'Ben outbid');
  return { ada: await card(ada) };
});

await step('3. Ben sets a max bid of $20.00 and leads by proxy at $13.00', async () => {
  await ben.click('#max-button');
  await until(ben, () => document.querySelector('#max-sheet').open, null, 'the max-bid sheet');
  await ben.fill('#max-amount', '20');
  await ben.click('#max-submit');
  await until(ben, () => !document.querySelector('#max-sheet').open, null, 'the sheet to close');
  await cardSays(ben, 'winning', 'your max $20.00', 'Ben winning with his max');
  await until(ada, () => document.querySelector('#auction-current').textContent === '$13.00', null, 'Ada to see $13.00');
  await cardSays(ada, 'outbid', 'You\'ve been outbid', 'Ada outbid by the proxy');
  return { ben: await card(ben) };
});

await step('3. Ada raises to $14.00 and Ben\'s proxy answers at once', async () => {
  await buttonSays(ada, 'Bid $14.00', 'Ada\'s button at $14.00');
  await ada.click('#bid-button');
  await until(ada, () => document.querySelector('#auction-current').textContent === '$15.00', null, 'the proxy\'s $15.00');
  await cardSays(ada, 'outbid', 'You\'ve been outbid', 'Ada outbid at once');
  const bids = await ada.evaluate(() => Array.from(document.querySelectorAll('#auction-bids li'), (li) => li.textContent));
  if (!bids[0] || !bids[0].includes('Ben') || !bids[0].includes('$15.00')) throw new Error(`the last bids: ${bids}`);
  return { ada: await card(ada), bids };
});

// ---- 4. the close ------------------------------------------------------------------------------

await step('4. the lot closes: Ben won and his order is paid', async () => {
  await until(ben, () => document.querySelector('#auction').dataset.status === 'closed', null, 'the close', 45000);
  await cardSays(ben, 'won', 'You won!', 'Ben\'s win');
  await cardSays(ben, 'won', 'Paid', 'Ben\'s order paid', 30000);
  return { ben: await card(ben) };
});

await step('4. Ada sees "Sold to Ben for $15.00"', async () => {
  await cardSays(ada, 'sold', 'Sold to Ben for $15.00', 'the result at Ada', 20000);
  const buttons = await ada.evaluate(() => ['#bid-button', '#max-button'].map((s) => document.querySelector(s).hidden));
  if (buttons.some((hidden) => !hidden)) throw new Error('bid buttons still shown after the close');
  await artifactsAtBothSizes(ada, 'auction-sold');
  return { ada: await card(ada) };
});

await step('4. the studio shows the result and the bid log', async () => {
  await until(studio, () => document.querySelector('#auction-now-result').textContent === 'Sold to Ben for $15.00',
    null, 'the studio\'s result');
  const rows = await until(studio, () => {
    const r = Array.from(document.querySelectorAll('#auction-log tr'), (tr) => tr.dataset.outcome);
    return r.length >= 5 ? r : null;
  }, null, 'five lines in the bid log');
  await artifactsAtBothSizes(studio, 'auction-studio');
  return { rows };
});

await step('the server\'s view', async () => {
  const a = await must('GET', `/api/shows/${show}/auctions/${lot.id}`);
  result.auction = a;
  const orders = await must('GET', `/api/shows/${show}/orders`, creator);
  result.order = (orders.orders || []).find((o) => o.total && o.total.amount === 1500) || null;
  return { status: a.status, winner: a.winner, current: a.current };
});

await finish({ ok: true, ...result });
