// The home page end to end (tests/browser_apps/moderate.rs): live shows first with a red LIVE
// badge, then the upcoming ones soonest first with their time in the reader's locale, then the
// recently ended; every card links to its viewer page. Prints one JSON line (tests/browser/lib.mjs).

import {
  args, log, fail, finish, deadline, launchBrowser, person, api, until, artifactsAtBothSizes,
  DESKTOP, PHONE,
} from './lib.mjs';

const opt = args({
  base: { type: 'string' },
  show: { type: 'string' },
  'creator-token': { type: 'string' },
  'moderator-token': { type: 'string' },
  product: { type: 'string', multiple: true },
});
const base = opt.base;
const creator = opt['creator-token'];
const run = { step: 'start', partial: {} };
deadline(80000, run);
const checks = [];

function step(name) {
  run.step = name;
  log(`step: ${name}`);
}
function assert(cond, what) {
  if (!cond) throw new Error(what);
}

async function newShow(title, inDays) {
  const body = { title };
  if (inDays !== undefined) body.scheduled_at = new Date(Date.now() + inDays * 86400000).toISOString();
  const res = await api(base, 'POST', '/api/shows', creator, body);
  assert(res.status === 201, `create show ${title}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

async function main() {
  step('shows: one live (the fixture), two upcoming, one ended');
  const later = await newShow('Spring glaze preview', 3);
  const soon = await newShow('מכירת חורף', 1);
  const past = await newShow('Seconds sale');
  for (const action of ['start', 'end']) {
    const res = await api(base, 'POST', `/api/shows/${past}/${action}`, creator, {});
    assert(res.status === 200, `${action} the past show: ${res.status} ${JSON.stringify(res.body)}`);
  }

  step('open the home page');
  const browser = await launchBrowser('home');
  // A reader in Tokyo with a German browser: times are theirs, not the server's UTC.
  const ctx = await person(browser, base, 'home', DESKTOP, { locale: 'de-DE', timezoneId: 'Asia/Tokyo' });
  const page = await ctx.newPage();
  const res = await page.goto(`${base}/`);
  assert(res && res.status() === 200, `GET / answered ${res && res.status()}`);
  await until(page, () => window.livesale && window.livesale.ready === true, null, 'window.livesale.ready');

  step('the live show comes first with a red LIVE badge');
  const cards = await page.evaluate(() => [...document.querySelectorAll('.shows li.show[data-show-id]')].map((li) => {
    const badge = li.querySelector('.badge');
    const title = li.querySelector('.show-title');
    const time = li.querySelector('time');
    const link = li.querySelector('a');
    return {
      id: li.dataset.showId,
      status: li.dataset.status,
      badge: badge ? badge.innerText.trim() : null,
      badgeBg: badge ? getComputedStyle(badge).backgroundColor : null,
      title: title.textContent.trim(),
      titleDir: title.getAttribute('dir'),
      titleDirection: getComputedStyle(title).direction,
      time: time ? time.textContent.trim() : null,
      timeTitle: time ? time.title : null,
      href: link ? link.getAttribute('href') : null,
    };
  }));
  log(JSON.stringify(cards));
  assert(cards.length === 4, `expected 4 shows, got ${cards.length}`);
  const [first] = cards;
  assert(first.id === opt.show && first.status === 'live', `first card is ${JSON.stringify(first)}`);
  assert(first.badge === 'LIVE', `live badge says ${first.badge}`);
  const [r, g, b] = (first.badgeBg.match(/\d+/g) || []).map(Number);
  assert(r > 150 && g < 80 && b < 80, `live badge is not red: ${first.badgeBg}`);
  checks.push('live first, red LIVE badge');

  step('upcoming soonest first, local times; ended last');
  assert(cards[1].id === soon && cards[2].id === later, `upcoming order: ${cards.map((c) => c.title).join(', ')}`);
  assert(cards[1].status === 'scheduled' && cards[2].status === 'scheduled', 'upcoming cards are not scheduled');
  for (const c of cards) {
    assert(c.time && !c.time.includes('UTC') && c.timeTitle, `time not localised by the script: ${JSON.stringify(c)}`);
    assert(c.titleDir === 'auto', `title without dir=auto: ${c.title}`);
    assert(c.href === `/s/${c.id}`, `card links to ${c.href}`);
  }
  const soonAt = (await api(base, 'GET', `/api/shows/${soon}`)).body.scheduled_at;
  const tokyo = new Intl.DateTimeFormat('de-DE', { hour: 'numeric', minute: '2-digit', timeZone: 'Asia/Tokyo' }).format(new Date(soonAt));
  assert(cards[1].time.includes(tokyo), `the upcoming time "${cards[1].time}" is not Tokyo's ${tokyo} in German`);
  assert(cards[1].titleDirection === 'rtl', `the Hebrew title is ${cards[1].titleDirection}`);
  assert(cards[0].titleDirection === 'ltr', 'the English title is not left to right');
  assert(cards[3].id === past && cards[3].status === 'ended', `last card: ${JSON.stringify(cards[3])}`);
  const sections = await page.evaluate(() => [...document.querySelectorAll('.home-section h2')].map((h) => h.textContent.trim()));
  assert(sections.length === 3, `sections: ${sections.join(' | ')}`);
  checks.push('upcoming soonest first with local time, RTL title, ended last');

  step('screenshots');
  const shots = await artifactsAtBothSizes(page, 'home');
  await page.setViewportSize(PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `the phone layout scrolls sideways by ${overflow}px`);
  await page.setViewportSize(DESKTOP);
  checks.push('no sideways scrolling on a phone');

  step('keyboard: the first Tab stops reach the live card');
  await page.keyboard.press('Tab'); // skip link
  let reached = false;
  for (let i = 0; i < 6 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate((id) => document.activeElement.closest('li.show')?.dataset.showId === id, opt.show);
  }
  assert(reached, 'Tab never reaches the live show');
  checks.push('keyboard reaches the live card');

  step('a card opens the viewer page');
  const [nav] = await Promise.all([
    page.waitForNavigation({ timeout: 10000 }),
    page.keyboard.press('Enter'),
  ]);
  assert(nav && nav.status() === 200, `the viewer page answered ${nav && nav.status()}`);
  assert(new URL(page.url()).pathname === `/s/${opt.show}`, `landed on ${page.url()}`);
  await page.goBack();
  await page.click(`li.show[data-show-id="${soon}"] a`);
  await until(page, (id) => location.pathname === `/s/${id}`, soon, 'the upcoming card to open its page');
  checks.push('cards link to /s/{id}');

  return finish({ ok: true, checks, screenshots: shots });
}

main().catch((e) => fail(run.step, e, { checks }));
