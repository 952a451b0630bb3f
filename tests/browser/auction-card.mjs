#!/usr/bin/env node
// Bidding without a saved card (`--payments stripe`), in headless Chromium at phone size against
// a server whose Stripe is localstripe (tests/browser_apps/auction.rs starts both). Stripe.js is
// localstripe's stand-in: its card element is plain inputs inside #auction-card-element.
//
//   1. the creator starts a lot over HTTP; Cara (a named viewer with no saved card) bids: the card
//      says that bidding needs a saved card, offers "Save a card", and the lot has no bid;
//   2. the sheet (Stripe.js's card element) saves 4242 4242 4242 4242 with a SetupIntent: it
//      closes and the card says "Card saved".
//
// Not here: bidding with that card and paying the win off-session. localstripe does not attach a
// SetupIntent's card to the customer (real Stripe does), so the server still finds no saved card
// (the checkout attaches its card after paying; there is no such step for a card saved alone).
//
//   node tests/browser/auction-card.mjs --base URL --show ID --creator-token T --moderator-token T \
//     --product ID [--product ID …] [--deadline-ms N]
//
// Prints one JSON line (see lib.mjs): {"ok", "steps", "auction"}.

import { api, artifactsAtBothSizes, finish, launchBrowser, person, scenario, until, PHONE } from './lib.mjs';

const { base, show, creator, opts, state, pages, step } = await scenario('auction-card', {}, {
  deadlineMs: 120000,
  dump: (page) => page.evaluate(() => ({
    card: document.querySelector('#auction')?.dataset.state,
    status: document.querySelector('#auction-status')?.textContent,
    error: document.querySelector('#auction-error:not([hidden])')?.textContent,
    sheet: document.querySelector('#card-sheet-error:not([hidden])')?.textContent,
  })),
});
const result = state.partial;

async function must(method, path, token, body, want = [200, 201]) {
  const r = await api(base, method, path, token, body);
  if (!want.includes(r.status)) throw new Error(`${method} ${path} answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const browser = await step('launch chromium', () => launchBrowser('auction-card'));

const cara = await step('Cara opens her viewer link (phone)', async () => {
  const j = await must('POST', `/api/shows/${show}/viewers`, null, { display_name: 'Cara' });
  const ctx = await person(browser, base, 'cara', PHONE);
  const page = await ctx.newPage();
  pages.cara = page;
  await page.goto(`${base}/s/${show}#token=${j.token}`);
  await until(page, () => window.livesale && window.livesale.ready && document.body.dataset.conn === 'open'
    && !!window.livesale.state.me, null, 'her live room');
  return page;
});

const lot = await step('1. the creator starts a lot', async () => {
  const a = await must('POST', `/api/shows/${show}/auctions`, creator, {
    product_id: opts.product[0], start_price: { amount: 1000, currency: 'USD' }, duration_s: 600, mode: 'sudden_death',
  }, [201]);
  await until(cara, () => {
    const b = document.querySelector('#bid-button');
    return !b.hidden && b.textContent === 'Bid $10.00';
  }, null, 'the bid button');
  result.auction = a.id;
  return { id: a.id };
});

await step('1. a bid without a saved card is refused in words, with "Save a card"', async () => {
  await cara.click('#bid-button');
  await until(cara, () => document.querySelector('#bid-confirm').open, null, 'the confirmation');
  await cara.click('#bid-confirm-ok');
  const said = await until(cara, () => {
    const e = document.querySelector('#auction-error');
    return !e.hidden && !document.querySelector('#auction-card').hidden && e.textContent;
  }, null, 'the refusal and the "Save a card" button');
  if (!/saved card/.test(said)) throw new Error(`the card says "${said}"`);
  const a = await must('GET', `/api/shows/${show}/auctions/${lot.id}`);
  if (a.bids !== 0) throw new Error(`the refused bid counted: ${JSON.stringify(a)}`);
  return { said };
});

await step('2. the sheet saves 4242 with a SetupIntent', async () => {
  await cara.click('#auction-card');
  await until(cara, () => document.querySelector('#card-sheet').open, null, 'the card sheet');
  const field = (name) => `#auction-card-element input[placeholder="${name}"]`;
  await until(cara, (s) => document.querySelector(s), field('number'), 'the card element');
  for (const [name, value] of [['number', '4242424242424242'], ['exp_month', '12'], ['exp_year', '30'], ['cvc', '123'],
    ['postal_code', '12345']]) {
    await cara.fill(field(name), value);
  }
  await cara.click('#card-save');
  await until(cara, () => !document.querySelector('#card-sheet').open, null, 'the sheet to close', 20000);
  await until(cara, () => /Card saved/.test(document.querySelector('#auction-status').textContent), null, '"Card saved"');
  const focus = await cara.evaluate(() => document.activeElement && document.activeElement.id);
  if (focus !== 'bid-button') throw new Error(`the focus went to #${focus}, not back to the bid button`);
  await artifactsAtBothSizes(cara, 'auction-card-saved');
  return { focus };
});

await finish({ ok: true, ...result });
