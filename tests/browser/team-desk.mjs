// A creator-wide moderator's token on the moderator desk (tests/browser_apps/moderate.rs): the
// same `/moderate/{show}#token=…` link shape opens the desk of each of the creator's shows, the
// desk lists the host's terms for all their shows and acts there (slow mode), and the desk of
// another creator's show turns it away. Prints one JSON line (tests/browser/lib.mjs).

import { scenario, launchBrowser, person, until, finish, PHONE } from './lib.mjs';

const { base, show, step, pages, opts } = await scenario('team-desk', {
  'team-token': { type: 'string' },
  'second-show': { type: 'string' },
  'foreign-show': { type: 'string' },
}, { required: ['team-token', 'second-show', 'foreign-show'], deadlineMs: 80000 });
const token = opts['team-token'];
const checks = [];

const browser = await step('launch', () => launchBrowser('team-desk'));
const ctx = await person(browser, base, 'team-desk', PHONE);

/** Opens the desk of `id` with the team token; returns the page once it settled. */
async function openDesk(id, label) {
  const page = await ctx.newPage();
  pages[label] = page;
  const res = await page.goto(`${base}/moderate/${id}#token=${encodeURIComponent(token)}`);
  if (!res || res.status() !== 200) throw new Error(`GET /moderate/${id} answered ${res && res.status()}`);
  await until(page, () => {
    const desk = document.getElementById('desk');
    const gate = document.getElementById('desk-gate');
    return (desk && desk.dataset.role) || (gate && !gate.hidden);
  }, null, `the desk of ${label} to settle`);
  return page;
}

for (const [id, label] of [[show, 'first show'], [opts['second-show'], 'second show']]) {
  await step(`the desk of the ${label} accepts the token`, async () => {
    const page = await openDesk(id, label);
    const state = await page.evaluate(() => ({
      role: document.getElementById('desk').dataset.role,
      gated: !document.getElementById('desk-gate').hidden,
      who: document.getElementById('desk-who').textContent,
    }));
    if (state.role !== 'moderator' || state.gated) throw new Error(`desk state ${JSON.stringify(state)}`);
    if (!state.who.includes('Sam')) throw new Error(`the desk names ${JSON.stringify(state.who)}`);
    // The host's terms for all their shows are listed, apart from the show's own.
    const creatorTerms = await page.evaluate(() => ({
      shown: !document.getElementById('creator-terms').hidden,
      terms: [...document.querySelectorAll('#creator-terms-list li')].map((li) => li.dataset.term),
    }));
    if (!creatorTerms.shown || creatorTerms.terms.join(',') !== 'crypto*,giveaway') {
      throw new Error(`the host's terms on the desk: ${JSON.stringify(creatorTerms)}`);
    }
    await until(page, () => document.body.dataset.conn === 'open', null, 'the live room to open');
    await page.selectOption('#slow-mode', '10');
    await until(page, () => [...document.querySelectorAll('#audit-list li')]
      .some((li) => /slow/i.test(li.textContent)), null, 'the slow mode audit entry');
    checks.push(`desk of the ${label}`);
  });
}

await step("another creator's desk turns the token away", async () => {
  const page = await openDesk(opts['foreign-show'], 'foreign show');
  const gated = await page.evaluate(() => !document.getElementById('desk-gate').hidden);
  if (!gated) throw new Error("the desk of another creator's show opened");
  checks.push('foreign desk gated');
});

await finish({ ok: true, checks });
