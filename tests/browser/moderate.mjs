// The moderator desk end to end (tests/browser_apps/moderate.rs): a moderator opens the desk from
// the invite link, viewers (WebSocket clients in a page of their own) chat, and the desk deletes,
// times out, bans, holds and approves, sets slow mode, talks in the moderators' channel and
// shows it all in the audit log. Prints one JSON line (tests/browser/lib.mjs).

import {
  args, log, fail, finish, deadline, launchBrowser, person, api, until, artifactsAtBothSizes,
  artifact, sleep, DESKTOP, PHONE,
} from './lib.mjs';

const opt = args({
  base: { type: 'string' },
  show: { type: 'string' },
  'creator-token': { type: 'string' },
  'moderator-token': { type: 'string' },
  product: { type: 'string', multiple: true },
});
const base = opt.base;
const show = opt.show;
const run = { step: 'start', partial: {} };
deadline(170000, run);

const checks = [];
function step(name) {
  run.step = name;
  log(`step: ${name}`);
}
function pass(name) {
  checks.push(name);
}
function assert(cond, what) {
  if (!cond) throw new Error(what);
}

// ---- viewers: WebSocket clients living in one plain page ------------------------------------

async function viewerHost(browser) {
  const ctx = await person(browser, base, 'viewers', DESKTOP);
  const page = await ctx.newPage();
  await page.goto(`${base}/healthz`);
  await page.evaluate(() => { window.C = {}; });
  return page;
}

async function join(name) {
  const res = await api(base, 'POST', `/api/shows/${show}/viewers`, null, { display_name: name });
  assert(res.status === 201, `join ${name}: ${res.status} ${JSON.stringify(res.body)}`);
  return { id: res.body.viewer_id, token: res.body.token, name };
}

/** Opens a viewer's socket as window.C[key]; waits for its welcome. */
async function connect(vp, key, viewer, expectWelcome = true) {
  const url = `${base.replace(/^http/, 'ws')}/api/shows/${show}/ws?v=1&token=${encodeURIComponent(viewer.token)}`;
  await vp.evaluate(({ key, url }) => {
    const c = { frames: [], closed: null };
    c.ws = new WebSocket(url);
    c.ws.onmessage = (ev) => c.frames.push(JSON.parse(ev.data));
    c.ws.onclose = (ev) => { c.closed = { code: ev.code, reason: ev.reason }; };
    window.C[key] = c;
  }, { key, url });
  if (!expectWelcome) return;
  await until(vp, (k) => window.C[k].frames.some((f) => f.type === 'welcome'), key, `${key}'s welcome`);
}

async function say(vp, key, text) {
  const sent = await vp.evaluate(({ key, text }) => {
    const c = window.C[key];
    if (c.ws.readyState !== WebSocket.OPEN) return { state: c.ws.readyState, closed: c.closed };
    c.ws.send(JSON.stringify({ type: 'chat.send', text }));
    return null;
  }, { key, text });
  // A closed socket drops what it is given without a word: say why instead.
  assert(sent === null, `${key} cannot say '${text}': the socket is not open ${JSON.stringify(sent)}`);
}

/** Waits for a frame of `key` matching `match` (an object of expected top-level values). */
async function frame(vp, key, match, what) {
  return until(vp, ({ key, match }) => window.C[key].frames.find((f) => Object.entries(match).every(
    ([k, v]) => JSON.stringify(f[k]) === JSON.stringify(v),
  )), { key, match }, what);
}

async function frames(vp, key) {
  return vp.evaluate((k) => window.C[k].frames, key);
}

// ---- the desk -------------------------------------------------------------------------------

async function openDesk(ctx, token, label) {
  const page = await ctx.newPage();
  const res = await page.goto(`${base}/moderate/${show}#token=${encodeURIComponent(token)}`);
  assert(res && res.status() === 200, `${label}: GET /moderate answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready === true, null, `${label}: window.livesale.ready`);
  await until(page, () => document.body.dataset.conn === 'open' && !!document.querySelector('#desk').dataset.role,
    null, `${label}: the desk's live room open with a welcome`);
  return page;
}

/** The desk's chat row holding `text`, as a locator. */
const row = (page, text) => page.locator('#chat-list li.msg', { has: page.locator('.text', { hasText: text }) });

async function auditHas(page, parts, what) {
  return until(page, (parts) => [...document.querySelectorAll('#audit-list li')].some(
    (li) => parts.every((p) => li.textContent.includes(p)),
  ), parts, `the audit log to show ${what}`);
}

async function main() {
  step('launch');
  const browser = await launchBrowser('moderate');
  const vp = await viewerHost(browser);

  step('the moderator opens the desk from the invite link');
  const modCtx = await person(browser, base, 'desk', DESKTOP);
  const desk = await openDesk(modCtx, opt['moderator-token'], 'desk');
  const url = desk.url();
  assert(!url.includes('token='), `the token stays in the address bar: ${url}`);
  const role = await desk.evaluate(() => document.querySelector('#desk').dataset.role);
  assert(role === 'moderator', `the desk's role is ${role}`);
  pass('desk opens from #token= link, token leaves the address bar');

  step('viewers join');
  const dana = await join('Dana');
  const omar = await join('عمر');
  const eve = await join('Eve');
  const lea = await join('Lea');
  for (const [k, v] of [['dana', dana], ['omar', omar], ['eve', eve], ['lea', lea]]) await connect(vp, k, v);

  step("a viewer's message appears on the desk with one-tap buttons");
  await say(vp, 'dana', 'hello from Dana');
  await row(desk, 'hello from Dana').waitFor({ timeout: 10000 });
  for (const cls of ['.mod-delete', '.mod-timeout', '.mod-ban']) {
    assert(await row(desk, 'hello from Dana').locator(cls).count() === 1, `no ${cls} on a viewer's message`);
  }
  pass('viewer message on desk with delete/timeout/ban');

  step('markup and right-to-left text render as text');
  const markup = '<b>x</b> <img src=x onerror="window.__pwned=1">';
  await say(vp, 'dana', markup);
  const arabic = 'مرحبا بالجميع، هل الكوب متوفر؟';
  await say(vp, 'omar', arabic);
  await row(desk, arabic).waitFor({ timeout: 10000 });
  await until(desk, (m) => [...document.querySelectorAll('#chat-list .msg .text')].some((t) => t.textContent === m),
    markup, 'the markup message as text');
  const render = await desk.evaluate(({ markup, arabic }) => {
    const texts = [...document.querySelectorAll('#chat-list .msg .text')];
    const m = texts.find((t) => t.textContent === markup);
    const a = texts.find((t) => t.textContent === arabic);
    const aWho = a.closest('li').querySelector('.who');
    return {
      elements: m.children.length,
      b: document.querySelectorAll('#chat-list b, #chat-list img').length,
      pwned: window.__pwned === 1,
      dir: getComputedStyle(a).direction,
      whoDir: getComputedStyle(aWho).direction,
      who: aWho.textContent,
    };
  }, { markup, arabic });
  assert(render.elements === 0 && render.b === 0 && !render.pwned, `markup rendered as HTML: ${JSON.stringify(render)}`);
  assert(render.dir === 'rtl' && render.whoDir === 'rtl' && render.who === 'عمر', `RTL not right to left: ${JSON.stringify(render)}`);
  pass('markup as text, RTL message and name right to left');

  step('one-tap delete removes the message on the desk and for viewers');
  await say(vp, 'dana', 'please delete me');
  await row(desk, 'please delete me').waitFor({ timeout: 10000 });
  const deleteId = await row(desk, 'please delete me').getAttribute('data-id');
  await row(desk, 'please delete me').locator('.mod-delete').click();
  await row(desk, 'please delete me').waitFor({ state: 'detached', timeout: 10000 });
  await frame(vp, 'dana', { type: 'chat.deleted', id: deleteId }, "Dana's chat.deleted");
  await frame(vp, 'omar', { type: 'chat.deleted', id: deleteId }, "Omar's chat.deleted");
  await auditHas(desk, ['deleted', 'please delete me'], 'the delete');
  pass('delete: desk and viewers');

  step('pin a message');
  await row(desk, arabic).locator('.mod-pin').click();
  await until(desk, (a) => !document.querySelector('#pinned').hidden && document.querySelector('#pinned-body').textContent.includes(a),
    arabic, 'the pinned message above the chat');
  await until(vp, () => window.C.dana.frames.some((f) => f.type === 'chat.pinned' && f.message), null, "Dana's chat.pinned");
  pass('pin');

  step('timeout a viewer for 10 min with a reason');
  await row(desk, 'hello from Dana').locator('.mod-timeout').click();
  await desk.locator('#action-dialog[open]').waitFor({ timeout: 5000 });
  await desk.fill('#action-reason', 'spam');
  await desk.click('#action-dialog button[data-seconds="600"]');
  await desk.locator('#action-dialog[open]').waitFor({ state: 'detached', timeout: 10000 }).catch(() => {});
  await until(desk, () => !document.querySelector('#action-dialog').open, null, 'the timeout dialog to close');
  await frame(vp, 'dana', { type: 'mod.notice', to: dana.id, action: 'timeout' }, "Dana's timeout notice");
  await say(vp, 'dana', 'am I still here?');
  const timedOut = await frame(vp, 'dana', { type: 'error', code: 'timed_out' }, "Dana's timed_out error");
  log(`timed_out: ${timedOut.message}`);
  await auditHas(desk, ['timed out', 'Dana', '10 min', 'spam'], '"… timed out Dana for 10 min: spam"');
  pass('timeout: viewer refused with timed_out, audit entry readable');

  step('ban a viewer, then lift the ban');
  await say(vp, 'eve', 'buy followers cheap');
  await row(desk, 'buy followers cheap').waitFor({ timeout: 10000 });
  await row(desk, 'buy followers cheap').locator('.mod-ban').click();
  await desk.locator('#action-dialog[open]').waitFor({ timeout: 5000 });
  await desk.fill('#action-reason', 'scam links');
  await desk.click('#confirm-ban');
  await until(desk, () => !document.querySelector('#action-dialog').open, null, 'the ban dialog to close');
  await until(vp, () => window.C.eve.closed && window.C.eve.closed.code === 4003, null, "Eve's socket closed with 4003");
  await auditHas(desk, ['banned', 'Eve', 'scam links'], '"… banned Eve: scam links"');
  await desk.locator('#banned-list li', { hasText: 'Eve' }).waitFor({ timeout: 5000 });
  await connect(vp, 'eve2', eve, false);
  await until(vp, () => window.C.eve2.closed, null, "the banned viewer's new socket to close");
  const again = await vp.evaluate(() => ({ closed: window.C.eve2.closed, welcome: window.C.eve2.frames.some((f) => f.type === 'welcome') }));
  assert(again.closed.code === 4003 && !again.welcome, `a banned viewer reconnected: ${JSON.stringify(again)}`);
  await desk.locator('#banned-list li', { hasText: 'Eve' }).locator('.unban').click();
  await auditHas(desk, ['lifted the ban', 'Eve'], 'the unban');
  await desk.locator('#banned-list li', { hasText: 'Eve' }).waitFor({ state: 'detached', timeout: 5000 });
  await connect(vp, 'eve3', eve);
  pass('ban closes the viewer (4003), banned list, unban lets them back');

  step('a bad term shows an error next to the form');
  await desk.fill('#term-input', 'x'.repeat(70));
  await desk.click('#term-add');
  await until(desk, () => !document.querySelector('#terms-error').hidden && /64/.test(document.querySelector('#terms-error').textContent),
    null, 'the invalid_term error next to the terms form');
  const termErr = await desk.textContent('#terms-error');
  assert(!(await desk.isDisabled('#term-add')), 'the Block button stays disabled after an error');
  assert(await desk.locator('#terms-list li').count() === 0, 'the bad term was listed');
  log(`terms error: ${termErr}`);
  pass('invalid term: clear error, live button');

  step('block a term: a message with it is held, approve publishes, reject drops');
  await desk.fill('#term-input', 'crypto*');
  await desk.click('#term-add');
  await desk.locator('#terms-list li', { hasText: 'crypto*' }).waitFor({ timeout: 5000 });
  assert(!(await desk.isVisible('#terms-error')), 'the old error stays after a success');
  await say(vp, 'omar', 'great cryptocoins here');
  const held1 = desk.locator('#held-list li[data-id]', { hasText: 'great cryptocoins here' });
  await held1.waitFor({ timeout: 10000 });
  await frame(vp, 'omar', { type: 'chat.pending' }, "Omar's chat.pending");
  assert(await row(desk, 'great cryptocoins here').count() === 0, 'a held message is in the public chat');
  await held1.locator('.approve').click();
  await held1.waitFor({ state: 'detached', timeout: 10000 });
  await row(desk, 'great cryptocoins here').waitFor({ timeout: 10000 });
  await frame(vp, 'lea', { type: 'chat.message', text: 'great cryptocoins here' }, 'the approved message reaching Lea');
  await say(vp, 'omar', 'CRYPTO giveaway now');
  const held2 = desk.locator('#held-list li[data-id]', { hasText: 'CRYPTO giveaway now' });
  await held2.waitFor({ timeout: 10000 });
  await held2.locator('.reject').click();
  await held2.waitFor({ state: 'detached', timeout: 10000 });
  await auditHas(desk, ['rejected', 'CRYPTO giveaway now'], 'the reject');
  await sleep(500);
  assert(await row(desk, 'CRYPTO giveaway now').count() === 0, 'a rejected message reached the chat');
  assert(!(await frames(vp, 'lea')).some((f) => f.type === 'chat.message' && f.text === 'CRYPTO giveaway now'),
    'a rejected message reached a viewer');
  await auditHas(desk, ['blocked', 'crypto*'], 'the blocked term');
  pass('blocked term → held → approve / reject');

  step('slow mode, pause and links reach viewers as chat.mode');
  await desk.selectOption('#slow-mode', '10');
  await frame(vp, 'lea', { type: 'chat.mode', slow_mode_s: 10 }, "Lea's chat.mode slow_mode_s 10");
  await say(vp, 'lea', 'first message');
  await frame(vp, 'lea', { type: 'chat.message', text: 'first message' }, "Lea's first message");
  await say(vp, 'lea', 'second too soon');
  await frame(vp, 'lea', { type: 'error', code: 'slow_mode' }, "Lea's slow_mode error");
  await auditHas(desk, ['slow mode', '10 s'], 'slow mode');
  await desk.click('#pause-chat');
  await frame(vp, 'lea', { type: 'chat.mode', paused: true }, "Lea's chat.mode paused");
  await until(desk, () => document.querySelector('#pause-chat').getAttribute('aria-pressed') === 'true', null, 'the pause button pressed');
  await desk.click('#pause-chat');
  await frame(vp, 'lea', { type: 'chat.mode', paused: false, slow_mode_s: 10 }, "Lea's chat.mode resumed");
  await desk.selectOption('#links-policy', 'hold');
  await frame(vp, 'lea', { type: 'chat.mode', links: 'hold' }, "Lea's chat.mode links hold");
  await desk.selectOption('#slow-mode', '0');
  await frame(vp, 'lea', { type: 'chat.mode', slow_mode_s: 0, links: 'hold' }, "Lea's chat.mode slow mode off");
  pass('slow mode / pause / links');

  step('a second moderator (phone) and the moderators-only channel');
  const inv = await api(base, 'POST', `/api/shows/${show}/invites`, opt['creator-token'], { role: 'moderator', label: 'Sam' });
  assert(inv.status === 201, `second invite: ${inv.status} ${JSON.stringify(inv.body)}`);
  const samCtx = await person(browser, base, 'sam', PHONE);
  const sam = await openDesk(samCtx, inv.body.token, 'sam');
  assert(String(inv.body.url).includes(`/moderate/${show}#token=`), `invite url ${inv.body.url}`);
  await desk.fill('#mod-chat-input', 'anyone else seeing spam?');
  await desk.click('#mod-chat-send');
  await sam.locator('#mod-chat-list li.msg', { hasText: 'anyone else seeing spam?' }).waitFor({ timeout: 10000 });
  await sam.fill('#mod-chat-input', 'on it');
  await sam.press('#mod-chat-input', 'Enter');
  const reply = desk.locator('#mod-chat-list li.msg', { hasText: 'on it' });
  await reply.waitFor({ timeout: 10000 });
  assert((await reply.locator('.who').textContent()) === 'Sam', 'the reply is not from Sam');
  // Sam acts from the phone; the first desk's log names him.
  await say(vp, 'lea', 'delete this one, Sam');
  await frame(vp, 'lea', { type: 'chat.message', text: 'delete this one, Sam' }, "Lea's message back on her socket");
  await row(desk, 'delete this one, Sam').waitFor({ timeout: 10000 });
  await row(sam, 'delete this one, Sam').waitFor({ timeout: 10000 });
  await row(sam, 'delete this one, Sam').locator('.mod-delete').click();
  await row(desk, 'delete this one, Sam').waitFor({ state: 'detached', timeout: 10000 });
  await auditHas(desk, ['Sam', 'deleted', 'delete this one, Sam'], "Sam's delete on the first desk");
  const leaked = (await frames(vp, 'lea')).filter((f) => ['mod.message', 'mod.audit', 'chat.held', 'mod.terms', 'chat.resolved'].includes(f.type));
  assert(leaked.length === 0, `a viewer got moderators' frames: ${JSON.stringify(leaked.map((f) => f.type))}`);
  pass('moderators-only channel round trip, second moderator on a phone, nothing leaks to viewers');

  step('keyboard and labels');
  const a11y = await desk.evaluate(() => {
    const bad = [];
    for (const el of document.querySelectorAll('#desk input, #desk select, #desk button')) {
      if (el.closest('[hidden]') || el.closest('dialog:not([open])')) continue;
      const name = el.getAttribute('aria-label') || (el.labels && el.labels.length && el.labels[0].textContent.trim())
        || (el.tagName === 'BUTTON' && el.textContent.trim());
      if (!name) bad.push(el.outerHTML.slice(0, 80));
    }
    return bad;
  });
  assert(a11y.length === 0, `controls without a name: ${a11y.join(' | ')}`);
  await desk.focus('#term-input');
  await desk.keyboard.press('Tab');
  assert(await desk.evaluate(() => document.activeElement.id) === 'term-add', 'Tab from the term field does not reach Block');
  await desk.keyboard.press('Shift+Tab');
  await desk.keyboard.type('scam');
  await desk.keyboard.press('Enter');
  await desk.locator('#terms-list li', { hasText: 'scam' }).waitFor({ timeout: 5000 });
  pass('controls labelled, keyboard reaches and submits the terms form');

  step('screenshots');
  await say(vp, 'omar', 'شكرا! سأشتري الكوب الأزرق');
  await say(vp, 'lea', 'is the tall vase dishwasher safe?');
  await say(vp, 'omar', 'crypto for everyone');
  await desk.locator('#held-list li[data-id]', { hasText: 'crypto for everyone' }).waitFor({ timeout: 10000 });
  const shots = [
    ...(await artifactsAtBothSizes(desk, 'moderate-desk')),
    await artifact(sam, 'moderate-desk-second'),
  ];
  await row(desk, 'is the tall vase dishwasher safe?').locator('.mod-timeout').click();
  await desk.locator('#action-dialog[open]').waitFor({ timeout: 5000 });
  shots.push(await artifact(desk, 'moderate-timeout-dialog'));
  await desk.keyboard.press('Escape');
  await until(desk, () => !document.querySelector('#action-dialog').open, null, 'Escape to close the dialog');

  step('the desk reconnects and resumes after a drop');
  await desk.evaluate(() => window.livesale.room.drop());
  await until(desk, () => document.body.dataset.conn === 'reconnecting', null, 'conn=reconnecting after a drop');
  await say(vp, 'lea', 'said while the desk was away');
  await until(desk, () => document.body.dataset.conn === 'open', null, 'conn=open again');
  await row(desk, 'said while the desk was away').waitFor({ timeout: 10000 });
  pass('reconnect and resume');

  step('clear the chat, after a confirmation');
  await desk.click('#clear-chat');
  await desk.locator('#action-dialog[open]').waitFor({ timeout: 5000 });
  assert(await desk.locator('#chat-list li.msg').count() > 0, 'the chat emptied before the confirmation');
  await desk.click('#confirm-clear');
  await until(desk, () => document.querySelectorAll('#chat-list li.msg').length === 0, null, 'the desk chat to empty');
  await frame(vp, 'lea', { type: 'chat.cleared' }, "Lea's chat.cleared");
  await auditHas(desk, ['cleared the chat'], 'the clear');
  pass('clear chat with confirmation');

  step('an invalid invite gets a clear message');
  const badCtx = await person(browser, base, 'bad', DESKTOP);
  const bad = await badCtx.newPage();
  await bad.goto(`${base}/moderate/${show}#token=not-a-real-token`);
  await until(bad, () => !document.querySelector('#desk-gate').hidden, null, 'the invalid-invite message');
  const gateText = await bad.textContent('#desk-gate');
  assert(/no longer valid/i.test(gateText), `gate says: ${gateText}`);
  assert(await bad.evaluate(() => document.body.dataset.conn) === 'closed', 'conn is not closed');
  shots.push(await artifact(bad, 'moderate-invalid-invite'));
  const none = await badCtx.newPage();
  await none.goto(`${base}/moderate/${show}`);
  await until(none, () => !document.querySelector('#desk-gate').hidden, null, 'the missing-invite message');
  pass('invalid or missing invite: clear message');

  return finish({ ok: true, checks, screenshots: shots });
}

main().catch((e) => fail(run.step, e, { checks }));
