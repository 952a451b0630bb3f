// The accessibility audit of tests/browser/a11y.mjs for one page at a time, for scenario
// scripts that audit their own pages (signin.mjs, admin.mjs): axe-core's WCAG 2.0 A/AA and
// WCAG 2.1 AA rules at phone and desktop sizes, with a screenshot of each
// (test-artifacts/a11y-<name>-<w>x<h>.png). Violations of impact serious or critical go in
// `result.violations` (the caller fails on any), the rest in `result.minor`.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { artifact, log, sleep, PHONE, DESKTOP } from './lib.mjs';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
export const AXE_VERSION = require('axe-core/package.json').version;
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21aa'];
const BLOCKING = new Set(['serious', 'critical']);

/** Audits `page` as `name` at phone then desktop size (its size restored after). */
export async function audit(page, name, result) {
  result.audited = result.audited || [];
  result.violations = result.violations || [];
  result.minor = result.minor || [];
  const before = page.viewportSize();
  for (const [sizeName, size] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    await page.setViewportSize(size);
    await sleep(300);
    await artifact(page, `a11y-${name}`).catch((e) => log(`screenshot ${name}: ${e.message}`));
    const has = await page.evaluate(() => typeof window.axe === 'object' && !!window.axe.run);
    if (!has) await page.evaluate(AXE_SOURCE);
    const found = await page.evaluate(async (tags) => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
      return {
        sideways: document.documentElement.scrollWidth > window.innerWidth + 1,
        violations: r.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          targets: v.nodes.slice(0, 6).map((n) => n.target.join(' ')),
        })),
      };
    }, TAGS);
    result.audited.push(`${name}@${sizeName}`);
    if (found.sideways) {
      result.violations.push({ page: name, size: sizeName, id: 'sideways-scroll', impact: 'serious', help: 'the page scrolls sideways' });
    }
    for (const v of found.violations) {
      (BLOCKING.has(v.impact) ? result.violations : result.minor).push({ page: name, size: sizeName, ...v });
      log(`${name}@${sizeName}: ${v.impact} ${v.id}: ${v.targets.join(' | ')}`);
    }
    if (!found.violations.length) log(`${name}@${sizeName}: no violations`);
  }
  if (before) await page.setViewportSize(before);
}
