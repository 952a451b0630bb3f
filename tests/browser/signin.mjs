#!/usr/bin/env node
// /signin end to end (tests/browser_apps/accounts.rs): a sign-in link signs a phone in (the
// token kept as `livesale:creator`, gone from the address bar, no Referer sent), then a passkey:
// registered through web/js/feature/passkey.js (`registerPasskey`) with Chromium's virtual
// authenticator over the DevTools protocol, then used through the page's "Sign in with a
// passkey" button in a fresh browser state; after signing out everywhere, the old link is
// refused with words. The page is audited (axe) in its states at phone and desktop sizes.
//
//   node tests/browser/signin.mjs --base URL --show ID --creator-token T --signin-url URL
//
// The base URL must be http://localhost:<port>: a passkey's RP id is a domain name.

import {
  api, finish, launchBrowser, person, scenario, until, PHONE,
} from './lib.mjs';
import { audit, AXE_VERSION } from './axe.mjs';

const { base, creator, opts, state, pages, step } = await scenario('signin',
  { 'signin-url': { type: 'string' } }, { required: ['signin-url'], deadlineMs: 150000 });
const result = state.partial;
result.axe = AXE_VERSION;
const link = opts['signin-url'];
const linkToken = new URL(link).hash.replace(/^#token=/, '');

function check(cond, message) {
  if (!cond) throw new Error(message);
}

const browser = await step('launch chromium', () => launchBrowser('signin'));

await step('a sign-in link signs the phone in and opens the dashboard', async () => {
  const ctx = await person(browser, base, 'link', PHONE);
  const page = await ctx.newPage();
  pages.link = page;
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), referer: r.headers().referer || null }));
  const res = await page.goto(link, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET /signin answered ${res && res.status()}`);
  check(res.headers()['referrer-policy'] === 'no-referrer', `Referrer-Policy: ${res.headers()['referrer-policy']}`);
  await page.waitForURL((u) => u.pathname === '/dashboard', { timeout: 15000 });
  const stored = await page.evaluate(() => localStorage.getItem('livesale:creator'));
  check(stored === linkToken, 'the link\'s token is not kept as livesale:creator');
  check(!page.url().includes(linkToken), `the token is still in the address bar: ${page.url()}`);
  const leaked = requests.filter((r) => r.url.includes(linkToken) || (r.referer && r.referer.includes(linkToken)));
  check(leaked.length === 0, `the token left the page: ${JSON.stringify(leaked)}`);
  const dash = requests.find((r) => new URL(r.url).pathname === '/dashboard');
  check(dash && dash.referer === null, `the dashboard was asked for with Referer ${dash && dash.referer}`);
  await ctx.close();
  delete pages.link;
  return { requests: requests.length };
});

const phone = await step('a phone without a token: the page explains and offers a passkey', async () => {
  const ctx = await person(browser, base, 'passkey', PHONE);
  const page = await ctx.newPage();
  pages.passkey = page;
  const res = await page.goto(`${base}/signin`, { waitUntil: 'load' });
  check(res && res.status() === 200, `GET /signin answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready === true, null, 'the sign-in page ready');
  const text = await page.textContent('#signin-status');
  check(/not signed in/i.test(text), `#signin-status says ${text}`);
  check(await page.isVisible('#passkey-signin'), 'no passkey button');
  await audit(page, 'signin', result);
  return page;
});

const authenticator = {};
await step('a virtual authenticator (CDP WebAuthn)', async () => {
  const cdp = await phone.context().newCDPSession(phone);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true,
    },
  });
  authenticator.cdp = cdp;
  authenticator.authenticatorId = authenticatorId;
});

await step('registerPasskey (web/js/feature/passkey.js) adds a passkey', async () => {
  const made = await phone.evaluate(async (token) => {
    const m = await import('/static/js/feature/passkey.js');
    return m.registerPasskey({ token, label: 'Test phone' });
  }, creator);
  check(made && made.id && made.label === 'Test phone', `registerPasskey answered ${JSON.stringify(made)}`);
  const { credentials } = await authenticator.cdp.send('WebAuthn.getCredentials',
    { authenticatorId: authenticator.authenticatorId });
  check(credentials.length === 1 && credentials[0].isResidentCredential, `authenticator holds ${JSON.stringify(credentials.map((c) => c.isResidentCredential))}`);
  const listed = await api(base, 'GET', '/api/me/passkeys', creator);
  check(listed.status === 200 && listed.body.items.length === 1 && listed.body.items[0].id === made.id,
    `GET /api/me/passkeys: ${JSON.stringify(listed.body)}`);
  return { id: made.id };
});

await step('"Sign in with a passkey" signs the phone in', async () => {
  const before = await phone.evaluate(() => localStorage.getItem('livesale:creator'));
  check(!before, 'the phone already had a token');
  await phone.click('#passkey-signin');
  await phone.waitForURL((u) => u.pathname === '/dashboard', { timeout: 15000 });
  const token = await phone.evaluate(() => localStorage.getItem('livesale:creator'));
  check(token && token !== creator, 'no fresh token kept');
  const me = await api(base, 'GET', '/api/me', token);
  const owner = await api(base, 'GET', '/api/me', creator);
  check(me.status === 200 && me.body.creator_id === owner.body.creator_id, `GET /api/me with it: ${JSON.stringify(me.body)}`);
  const listed = await api(base, 'GET', '/api/me/passkeys', creator);
  check(listed.body.items[0].last_used_at, `the passkey was not marked used: ${JSON.stringify(listed.body)}`);
  result.passkey_token = token;
  return { creator_id: me.body.creator_id };
});

await step('after signing out everywhere, the old link is refused in words', async () => {
  const out = await api(base, 'POST', '/api/me/signout', creator);
  check(out.status === 204, `signout answered ${out.status}`);
  const ctx = await person(browser, base, 'refused', PHONE);
  const page = await ctx.newPage();
  pages.refused = page;
  await page.goto(link, { waitUntil: 'load' });
  await until(page, () => window.livesale && window.livesale.ready === true, null, 'the sign-in page ready');
  check(new URL(page.url()).pathname === '/signin', `went to ${page.url()}`);
  check(!page.url().includes('token='), 'the refused token stayed in the address bar');
  const text = await page.textContent('#signin-status');
  check(/signed out everywhere/i.test(text), `#signin-status says ${text}`);
  const stored = await page.evaluate(() => localStorage.getItem('livesale:creator'));
  check(stored === null, 'a refused token was kept');
  await audit(page, 'signin-refused', result);
  return { text };
});

await step('no serious or critical violations', () => {
  const lines = result.violations.map((v) => `${v.page}@${v.size}: ${v.impact} ${v.id} — ${v.help}: ${(v.targets || []).join(' | ')}`);
  check(lines.length === 0, `${lines.length} serious or critical violations:\n${lines.join('\n')}`);
});

await finish({ ok: true, ...result });
