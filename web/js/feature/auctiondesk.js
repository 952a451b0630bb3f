// The auction panel of the studio and the moderator desk (docs/studio.md, "Auctions"): start an
// auction on a lineup product (starting price, duration, mode, extension, reserve, now or
// scheduled), open a scheduled lot, the lot's state and countdown on the server's clock, Stop
// (`…/close`), the bid log (`auction.log`, moderators only: time, bidder, kind, amount,
// outcome) and its CSV export, and `auction.alert` shown where it cannot be missed.
//
// The panel's markup is the same in templates/studio.html and templates/moderate.html (the
// `#auction-panel` section); the page passes its token and its API call.

import { api, formatMoney, parseMoney } from '../api.js';
import { h, $, fill, busy, showError } from '../dom.js';
import { AuctionStatus } from '../protocol.js';
import { auctionDeskWords } from './errors.js';
import { ServerClock } from './intime.js';
import { newerAuction, resultText, countdownText, statusWord, logTime } from './auction.js';

/** How many log lines the panel keeps (the export has them all). */
const LOG_LINES = 200;

const KIND = { amount: 'bid', max: 'max' };

/**
 * The panel for show `showId` with `token` (the creator's or a moderator's). Returns the room
 * handlers (`welcome`, `lot`, `ended`, `log`, `alert`), `tick()` and `load()`.
 */
export function auctionDesk({ showId, token }) {
  const base = `/api/shows/${showId}`;
  const call = async (method, path, body) => {
    try {
      return await api(method, `${base}${path}`, { token, body });
    } catch (e) {
      const words = auctionDeskWords(e.code, e.problem || {});
      if (words) e.message = words;
      throw e;
    }
  };
  const el = Object.fromEntries(['auction-form', 'auction-product', 'auction-start', 'auction-duration', 'auction-mode',
    'auction-extend', 'auction-reserve', 'auction-open', 'auction-submit', 'auction-form-error', 'auction-now',
    'auction-now-title', 'auction-now-status', 'auction-now-price', 'auction-now-count', 'auction-now-next',
    'auction-now-result', 'auction-open-now', 'auction-stop', 'auction-export', 'auction-now-error', 'auction-alert',
    'auction-alert-text', 'auction-alert-dismiss', 'auction-log', 'auction-log-empty']
    .map((id) => [id, document.getElementById(id)]));
  const D = { auction: null, result: null, products: new Map(), names: new Map(), log: [], alerts: [] };
  const clock = new ServerClock();

  // ---- the products ---------------------------------------------------------------------------

  async function loadProducts() {
    const r = await api('GET', `${base}/lineup`);
    const select = el['auction-product'];
    const before = select.value;
    D.products = new Map((r.products || []).map((p) => [p.id, p]));
    fill(select, ...[...D.products.values()].map((p) => h('option', { value: p.id }, `${p.title} (${formatMoney(p.price)})`)));
    if (D.products.has(before)) select.value = before;
    el['auction-submit'].disabled = D.products.size === 0;
    render();
  }

  const titleOf = (id) => (D.products.get(id) || {}).title || 'A product';
  const nameOf = (entry) => entry.name || entry.bidder_name || D.names.get(entry.bidder) || `Viewer ${String(entry.bidder).slice(-6)}`;

  // ---- starting a lot -------------------------------------------------------------------------

  function fieldError(input, text) {
    for (const i of el['auction-form'].querySelectorAll('input, select')) i.removeAttribute('aria-invalid');
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
    fill(el['auction-form-error'], text);
    el['auction-form-error'].hidden = !text;
  }

  /** The create body from the form, or null after marking the field that is wrong. */
  function readForm() {
    const p = D.products.get(el['auction-product'].value);
    if (!p) return fieldError(el['auction-product'], 'Pick a product of the lineup.') || null;
    const cur = p.price.currency;
    const start = parseMoney(el['auction-start'].value, cur);
    if (!start) return fieldError(el['auction-start'], `Enter the starting price, like ${formatMoney({ amount: 100, currency: cur }).replace(/[^\d.,]/g, '')}.`) || null;
    const duration = Number(el['auction-duration'].value);
    if (!Number.isInteger(duration) || duration < 10 || duration > 3600) {
      return fieldError(el['auction-duration'], 'The duration is from 10 to 3600 seconds.') || null;
    }
    const body = {
      product_id: p.id, start_price: { amount: start, currency: cur }, duration_s: duration,
      mode: el['auction-mode'].value, open: el['auction-open'].checked,
    };
    if (body.mode === 'soft_close' && el['auction-extend'].value.trim()) {
      const extend = Number(el['auction-extend'].value);
      if (!Number.isInteger(extend) || extend < 5 || extend > 120) {
        return fieldError(el['auction-extend'], 'A late bid extends by 5 to 120 seconds.') || null;
      }
      body.extend_s = extend;
    }
    if (el['auction-reserve'].value.trim()) {
      const reserve = parseMoney(el['auction-reserve'].value, cur);
      if (reserve === null || reserve < start) {
        return fieldError(el['auction-reserve'], 'The reserve is at least the starting price (or leave it empty).') || null;
      }
      body.reserve_price = { amount: reserve, currency: cur };
    }
    fieldError(null, '');
    return body;
  }

  el['auction-form'].addEventListener('submit', (e) => {
    e.preventDefault();
    const body = readForm();
    if (!body) return;
    busy(el['auction-submit'], async () => {
      take(await call('POST', '/auctions', body));
      D.log = [];
      render();
    }, el['auction-form-error']);
  });
  el['auction-mode'].addEventListener('change', () => {
    el['auction-extend'].disabled = el['auction-mode'].value !== 'soft_close';
  });
  el['auction-open'].addEventListener('change', () => {
    fill(el['auction-submit'], el['auction-open'].checked ? 'Start the auction' : 'Schedule the lot');
  });

  el['auction-alert-dismiss'].addEventListener('click', () => {
    D.alerts = [];
    renderAlerts();
    el['auction-submit'].focus();
  });

  // ---- the lot --------------------------------------------------------------------------------

  function take(a, extra = {}) {
    if (!newerAuction(a, D.auction)) return false;
    if (!D.auction || D.auction.id !== a.id) {
      D.log = [];
      D.result = null;
    }
    D.auction = a;
    if (a.leader) D.names.set(a.leader.viewer_id, a.leader.name);
    if (a.winner) D.names.set(a.winner.viewer_id, a.winner.name);
    if (extra.result) D.result = extra.result;
    return true;
  }

  el['auction-open-now'].addEventListener('click', () => busy(el['auction-open-now'], async () => {
    take(await call('POST', `/auctions/${D.auction.id}/open`, {}));
    render();
  }, el['auction-now-error']));
  el['auction-stop'].addEventListener('click', () => busy(el['auction-stop'], async () => {
    take(await call('POST', `/auctions/${D.auction.id}/close`, {}));
    render();
  }, el['auction-now-error']));
  el['auction-export'].addEventListener('click', () => busy(el['auction-export'], async () => {
    const csv = await api('GET', `${base}/auctions/${D.auction.id}/log?format=csv`, { token });
    const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
    const a = h('a', { href: url, download: `auction-${D.auction.id}.csv`, hidden: true });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }, el['auction-now-error']));

  function renderLot() {
    const a = D.auction;
    el['auction-now'].hidden = !a;
    if (!a) return;
    el['auction-now'].dataset.status = a.status;
    el['auction-now'].dataset.auctionId = a.id;
    fill(el['auction-now-title'], titleOf(a.product_id));
    fill(el['auction-now-status'], statusWord(a));
    el['auction-now-status'].dataset.status = a.status;
    fill(el['auction-now-price'], a.current ? formatMoney(a.current) : 'No bids yet',
      a.leader ? ' · ' : '', a.leader ? h('bdi', { dir: 'auto' }, a.leader.name) : '');
    fill(el['auction-now-count'], `${a.bids} bid${a.bids === 1 ? '' : 's'}`);
    fill(el['auction-now-next'], a.status === AuctionStatus.CLOSED ? '' : `Next minimum ${formatMoney(a.next_minimum)}`);
    fill(el['auction-now-result'], a.status === AuctionStatus.CLOSED ? resultText(a, D.result) : '');
    el['auction-open-now'].hidden = a.status !== AuctionStatus.SCHEDULED;
    el['auction-stop'].hidden = a.status === AuctionStatus.CLOSED;
    fill(el['auction-stop'], a.status === AuctionStatus.SCHEDULED ? 'Cancel the lot' : 'Stop the auction');
    tick();
  }

  function renderLog() {
    el['auction-log-empty'].hidden = D.log.length > 0;
    const money = (n) => (n === null || n === undefined || !D.auction ? '' : formatMoney({ ...D.auction.next_minimum, amount: n }));
    fill(el['auction-log'], ...D.log.map((e) => h('tr', { class: `log-${/^(accepted|max_raised|pre_bid)$/.test(e.outcome) ? 'ok' : 'refused'}`, dataset: { seq: String(e.seq), outcome: e.outcome } },
      h('td', { class: 'log-time' }, h('time', { datetime: new Date(e.received_ms).toISOString() }, logTime(e.received_ms))),
      h('td', {}, h('bdi', { dir: 'auto' }, nameOf(e))),
      h('td', {}, KIND[e.kind] || e.kind),
      h('td', { class: 'log-amount' }, money(e.amount)),
      h('td', { class: 'log-outcome' }, e.outcome.replace(/_/g, ' ')))));
  }

  function renderAlerts() {
    el['auction-alert'].hidden = D.alerts.length === 0;
    fill(el['auction-alert-text'], ...D.alerts.map((t) => h('p', {}, t)));
  }

  function render() {
    renderLot();
    renderLog();
    renderAlerts();
  }

  function tick() {
    const a = D.auction;
    if (!a) return;
    const c = $('#auction-now-countdown');
    const text = countdownText(a, clock.now());
    if (c.textContent !== text) fill(c, text);
  }

  /** The lot's log so far (moderators only), newest first. */
  async function loadLog() {
    const a = D.auction;
    if (!a) return;
    const r = await call('GET', `/auctions/${a.id}/log`);
    if (!D.auction || D.auction.id !== a.id) return;
    if (r.auction) take(r.auction);
    const seen = new Set(D.log.map((e) => e.seq));
    D.log = [...D.log, ...(r.entries || []).filter((e) => !seen.has(e.seq))]
      .sort((x, y) => y.seq - x.seq).slice(0, LOG_LINES);
    render();
  }

  return {
    state: D,
    async load() {
      await loadProducts();
      const r = await api('GET', `${base}/auctions`);
      const list = r.auctions || [];
      const open = list.find((a) => a.status === AuctionStatus.OPEN) || list[list.length - 1];
      if (open && take(open)) render();
      await loadLog();
    },
    welcome(w) {
      clock.sync(w.now_ms);
      if (w.auction && take(w.auction)) {
        render();
        loadLog().catch((e) => showError(e, el['auction-now-error']));
      }
    },
    /** `auction.scheduled`, `auction.started`, `auction.bid`. */
    lot(m) { if (take(m.auction)) render(); },
    /** `auction.ended`. */
    ended(m) {
      take(m.auction, { result: m.result });
      render();
    },
    /** `auction.log`: one handled bid. */
    log(m) {
      if (!D.auction || m.auction_id !== D.auction.id || !m.entry) return;
      if (D.log.some((e) => e.seq === m.entry.seq)) return;
      D.log.unshift(m.name ? { ...m.entry, name: m.name } : m.entry);
      D.log.sort((x, y) => y.seq - x.seq);
      D.log.length = Math.min(D.log.length, LOG_LINES);
      renderLog();
    },
    /** `auction.alert`: a payment failed or lapsed, the runner-up's offer, nobody paid. */
    alert(m) {
      D.alerts.unshift(`${logTime(Date.now()).slice(0, 8)} · ${m.text}`);
      D.alerts.length = Math.min(D.alerts.length, 5);
      renderAlerts();
    },
    tick,
    render,
  };
}
