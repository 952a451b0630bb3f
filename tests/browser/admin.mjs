#!/usr/bin/env node
// /admin end to end (tests/browser_apps/accounts.rs): the operator opens the page with the
// admin token in the link's fragment (kept in this tab, gone from the address bar), sees
// readiness, the store, this node and the live show, creates a creator through the form and
// the sign-in link it shows signs a fresh phone in; "New sign-in link" on an existing creator
// gives a working link too. Typed into the form, a creator's token is refused and the admin
// token opens the page, from the keyboard alone. Audited (axe) at phone and desktop sizes.
//
//   node tests/browser/admin.mjs --base URL --show ID --creator-token T --admin-token T

import {
  api, finish, launchBrowser, person, scenario, until, PHONE, DESKTOP,
} from './lib.mjs';
import { audit, AXE_VERSION } from './axe.mjs';

const { base, show, creator, opts, state, pages, step } = await scenario('admin',
  { 'admin-token': { type: 'string' } }, { required: ['admin-token'], deadlineMs: 150000 });
const result = state.partial;
result.axe = AXE_VERSION;
const admin = opts['admin-token'];

function check(cond, message) {
  if (!cond) throw new Error(message);
}

/** Opens a sign-in link in a fresh phone and returns the creator token it keeps. */
async function signInWith(url, label) {
  const ctx = await person(browser, base, label, PHONE);
  const page = await ctx.newPage();
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForURL((u) => u.pathname === '/dashboard', { timeout: 15000 });
  const token = await page.evaluate(() => localStorage.getItem('livesale:creator'));
  await ctx.close();
  check(token, `${label}: no token kept`);
  return token;
}

const browser = await step('launch chromium', () => launchBrowser('admin'));

const page = await step('the admin link opens the operator page', async () => {
  const ctx = await person(browser, base, 'admin', DESKTOP);
  const p = await ctx.newPage();
  pages.admin = p;
  const res = await p.goto(`${base}/admin#token=${encodeURIComponent(admin)}`, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET /admin answered ${res && res.status()}`);
  check(res.headers()['referrer-policy'] === 'no-referrer', 'no Referrer-Policy: no-referrer');
  await until(p, () => window.livesale && window.livesale.ready === true, null, 'the admin page ready');
  check(await p.isVisible('#admin-main'), 'the operator sections are hidden');
  check(!p.url().includes('token='), `the token is still in the address bar: ${p.url()}`);
  const kept = await p.evaluate(() => sessionStorage.getItem('livesale:admin'));
  check(kept === admin, 'the admin token is not kept in this tab');
  return p;
});

await step('readiness, the store, the node and the live show', async () => {
  const ready = await page.textContent('#readiness');
  check(/^Ready/.test(ready) && /store: (redis|memory)/.test(ready), `#readiness says ${ready}`);
  const nodes = await page.$$eval('#nodes-list li.node', (li) => li.map((n) => n.textContent));
  check(nodes.length >= 1, 'no node listed');
  const live = await page.$$eval('#live-list li.live-show', (li) => li.map((n) => n.dataset.showId));
  check(live.includes(show), `the live show is not listed: ${JSON.stringify(live)}`);
  return { nodes: nodes.length, live: live.length };
});

const made = await step('create a creator; its sign-in link is shown', async () => {
  await page.fill('#creator-name', "Nora's Knits");
  await page.click('#create-form button[type=submit]');
  await until(page, () => !document.querySelector('#new-link').hidden, null, 'the new link');
  const url = await page.inputValue('#new-link-url');
  check(url.startsWith(`${base}/signin#token=`), `the link is ${url}`);
  const id = await page.getAttribute('#new-link', 'data-creator-id');
  await until(page, (i) => !!document.querySelector(`#creators-list li[data-creator-id="${i}"]`), id, 'the creator in the list');
  const listed = await api(base, 'GET', '/api/creators?limit=200', admin);
  const nora = listed.body.items.find((c) => c.id === id);
  check(nora && nora.name === "Nora's Knits", `GET /api/creators: ${JSON.stringify(listed.body)}`);
  await audit(page, 'admin', result);
  return { id, url };
});

await step('the new sign-in link signs a phone in', async () => {
  const token = await signInWith(made.url, 'nora');
  const me = await api(base, 'GET', '/api/me', token);
  check(me.status === 200 && me.body.creator_id === made.id && me.body.name === "Nora's Knits",
    `GET /api/me: ${JSON.stringify(me.body)}`);
});

await step('"New sign-in link" for an existing creator works', async () => {
  const owner = await api(base, 'GET', '/api/me', creator);
  const id = owner.body.creator_id;
  const button = `#creators-list li[data-creator-id="${id}"] button.new-link`;
  await page.click(button);
  const input = `#creators-list li[data-creator-id="${id}"] .link-slot input`;
  await until(page, (s) => !!document.querySelector(s), input, 'the fresh link');
  const url = await page.inputValue(input);
  const token = await signInWith(url, 'owner');
  const me = await api(base, 'GET', '/api/me', token);
  check(me.status === 200 && me.body.creator_id === id, `GET /api/me: ${JSON.stringify(me.body)}`);
});

await step('typed: a creator token is refused, the admin token opens it (keyboard only)', async () => {
  const ctx = await person(browser, base, 'typed', PHONE);
  const p = await ctx.newPage();
  pages.typed = p;
  await p.goto(`${base}/admin`, { waitUntil: 'load' });
  await until(p, () => window.livesale && window.livesale.ready === true, null, 'the admin page ready');
  check(await p.isVisible('#admin-auth') && !(await p.isVisible('#admin-main')), 'the token form is not what shows');
  await audit(p, 'admin-signin', result);
  await p.focus('#admin-token');
  await p.keyboard.type(creator);
  await p.keyboard.press('Enter');
  await until(p, () => !document.querySelector('#auth-error').hidden, null, 'the refusal');
  check(!(await p.isVisible('#admin-main')), 'a creator token opened the operator page');
  await p.fill('#admin-token', '');
  await p.focus('#admin-token');
  await p.keyboard.type(admin);
  await p.keyboard.press('Enter');
  await until(p, () => !document.querySelector('#admin-main').hidden, null, 'the operator page');
  await ctx.close();
  delete pages.typed;
});

await step('no serious or critical violations', () => {
  const lines = result.violations.map((v) => `${v.page}@${v.size}: ${v.impact} ${v.id} — ${v.help}: ${(v.targets || []).join(' | ')}`);
  check(lines.length === 0, `${lines.length} serious or critical violations:\n${lines.join('\n')}`);
});

await finish({ ok: true, ...result, created: made.id });
