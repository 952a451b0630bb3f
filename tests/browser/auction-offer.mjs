#!/usr/bin/env node
// The winner's card declined (`--payments decline`, the test provider declining every charge), in
// headless Chromium (tests/browser_apps/auction.rs runs it):
//
//   1. a scheduled lot: Ada (phone) pre-bids up to $10.00 in the max-bid sheet; the studio's
//      "Open the lot now" opens it and her pre-bid leads; Ben (desktop) bids $11.00 and she is
//      outbid; the studio's Stop ends it;
//   2. Ben's card says he won and that the payment did not go through;
//   3. Ada, the runner-up, gets the offer: "it can be yours for $10.00 until …" with a
//      "Buy it for $10.00" button;
//   4. the studio shows the alert in its alert box.
//
//   node tests/browser/auction-offer.mjs --base URL --show ID --creator-token T --moderator-token T \
//     --product ID [--product ID …] [--deadline-ms N]
//
// Prints one JSON line (see lib.mjs): {"ok", "steps", "auction"}.

import { api, artifactsAtBothSizes, finish, launchBrowser, person, scenario, until, PHONE, DESKTOP } from './lib.mjs';

const { base, show, creator, opts, state, pages, step } = await scenario('auction-offer', {}, {
  deadlineMs: 120000,
  dump: (page) => page.evaluate(() => ({
    card: document.querySelector('#auction')?.dataset.state,
    status: document.querySelector('#auction-status')?.textContent,
    error: document.querySelector('#auction-error:not([hidden])')?.textContent,
    alert: document.querySelector('#auction-alert')?.textContent,
  })),
});
const result = state.partial;

async function must(method, path, token, body, want = [200, 201]) {
  const r = await api(base, method, path, token, body);
  if (!want.includes(r.status)) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const browser = await step('launch chromium', () => launchBrowser('auction-offer'));

async function open(label, size, path) {
  const ctx = await person(browser, base, label, size);
  const page = await ctx.newPage();
  pages[label] = page;
  await page.goto(`${base}${path}`);
  await until(page, () => window.livesale && window.livesale.ready && document.body.dataset.conn === 'open',
    null, `the ${label} page's live room`);
  return page;
}
async function viewer(name, size) {
  const j = await must('POST', `/api/shows/${show}/viewers`, null, { display_name: name });
  const page = await open(name.toLowerCase(), size, `/s/${show}#token=${j.token}`);
  await until(page, () => !!window.livesale.state.me, null, `${name}'s viewer id`);
  return page;
}

const studio = await step('the studio, Ada (phone) and Ben (desktop)', () => open('studio', DESKTOP, `/studio/${show}#token=${creator}`));
const ada = await viewer('Ada', PHONE);
const ben = await viewer('Ben', DESKTOP);

async function bid(page, label) {
  await until(page, (l) => {
    const b = document.querySelector('#bid-button');
    return !b.hidden && !b.disabled && b.textContent === l;
  }, label, `"${label}"`);
  await page.click('#bid-button');
  await until(page, () => document.querySelector('#bid-confirm').open, null, 'the confirmation');
  await page.click('#bid-confirm-ok');
  await until(page, () => document.querySelector('#auction').dataset.state === 'winning', null, 'winning');
}

const lot = await step('1. a scheduled lot: Ada pre-bids up to $10.00 in the sheet', async () => {
  const a = await must('POST', `/api/shows/${show}/auctions`, creator, {
    product_id: opts.product[0], start_price: { amount: 1000, currency: 'USD' }, duration_s: 600, mode: 'soft_close',
    open: false,
  }, [201]);
  if (a.status !== 'scheduled') throw new Error(`the lot is ${a.status}`);
  result.auction = a.id;
  await until(ada, () => {
    const c = document.querySelector('#auction');
    return !c.hidden && c.dataset.status === 'scheduled' && document.querySelector('#bid-button').hidden
      && document.querySelector('#max-button').textContent === 'Pre-bid: set a max'
      && document.querySelector('#auction-countdown').textContent === 'Opens soon';
  }, null, 'the scheduled lot with its pre-bid button');
  await ada.click('#max-button');
  await until(ada, () => document.querySelector('#max-sheet').open, null, 'the sheet');
  await ada.fill('#max-amount', '10');
  await ada.click('#max-submit');
  await until(ada, () => document.querySelector('#auction').dataset.state === 'prebid'
    && document.querySelector('#auction-status').textContent === 'Your pre-bid: up to $10.00', null, 'the pre-bid');
  return { id: a.id };
});

await step('1. the studio opens the lot: the pre-bid leads; Ben bids $11.00; the studio stops it', async () => {
  await until(studio, (id) => document.querySelector('#auction-now').dataset.auctionId === id
    && !document.querySelector('#auction-open-now').hidden, lot.id, 'the studio\'s "Open the lot now"');
  await studio.click('#auction-open-now');
  await until(ada, () => document.querySelector('#auction').dataset.state === 'winning', null, 'Ada leading by her pre-bid');
  await bid(ben, 'Bid $11.00');
  await until(ada, () => document.querySelector('#auction').dataset.state === 'outbid', null, 'Ada outbid');
  await until(studio, () => !document.querySelector('#auction-stop').hidden, null, 'the Stop button');
  await studio.click('#auction-stop');
  return { rows: await studio.evaluate(() => Array.from(document.querySelectorAll('#auction-log tr'), (tr) => tr.dataset.outcome)) };
});

await step('2. Ben won, and his card says the payment did not go through', async () => {
  await until(ben, () => document.querySelector('#auction').dataset.state === 'won'
    && /did not go through/.test(document.querySelector('#auction-status').textContent), null, 'the declined payment', 30000);
  return { status: await ben.evaluate(() => document.querySelector('#auction-status').textContent) };
});

await step('3. Ada gets the offer: "Buy it for $10.00" until a time', async () => {
  await until(ada, () => document.querySelector('#auction').dataset.state === 'offer'
    && !document.querySelector('#offer-button').hidden, null, 'the offer', 30000);
  const seen = await ada.evaluate(() => ({
    status: document.querySelector('#auction-status').textContent,
    button: document.querySelector('#offer-button').textContent,
  }));
  if (seen.button !== 'Buy it for $10.00') throw new Error(`the button says "${seen.button}"`);
  if (!/can be yours for \$10\.00 until \d/.test(seen.status)) throw new Error(`the card says "${seen.status}"`);
  await artifactsAtBothSizes(ada, 'auction-offer');
  return seen;
});

await step('4. the studio shows the alert', async () => {
  const text = await until(studio, () => {
    const box = document.querySelector('#auction-alert');
    return !box.hidden && document.querySelector('#auction-alert-text').textContent;
  }, null, 'the alert', 30000);
  await until(studio, (id) => document.querySelector('#auction-now').dataset.auctionId === id
    && document.querySelector('#auction-now').dataset.status === 'closed', lot.id, 'the closed lot');
  return { text };
});

await finish({ ok: true, ...result });
