// The dashboard's Orders section: the creator's orders across all shows or one, filtered by
// status, newest first, a page at a time; each with its show, buyer, email and shipping address,
// items and total, a "Replay" badge on one bought from the replay after the show, and a Refund
// button on a paid one (confirmed first; a refusal stays in the dialog in words). "Export CSV"
// downloads the same selection as a spreadsheet.

import { formatMoney } from '../api.js';
import { $, h, fill, busy, toast, userText } from '../dom.js';
import { orderWords } from './errors.js';
import { addressLines, newestFirst, refundable, shortId, statusWords } from './orders.js';
import { download, missingRoute, pagedList, whenText } from './dashutil.js';

export function ordersSection(ctx) {
  const showSelect = $('#orders-show');
  const statusSelect = $('#orders-status');
  const summary = $('#orders-summary');
  let legacy = false;
  let titles = new Map(); // show id → title

  function row(order) {
    const id = shortId(order.id);
    const lines = addressLines(order.shipping);
    const li = h('li', { class: 'order', dataset: { orderId: order.id, status: order.status, showId: order.show_id } },
      h('div', { class: 'order-head' },
        h('span', { class: 'order-id', title: order.id }, id),
        userText(order.buyer_name, 'order-buyer'),
        h('span', { class: 'order-status badge', dataset: { status: order.status } }, statusWords(order.status)),
        order.channel === 'replay' ? h('span', { class: 'order-channel badge', title: 'Bought from the replay, after the show' }, 'Replay') : null,
        h('time', { class: 'order-time muted', datetime: order.created_at }, whenText(order.created_at))),
      h('p', { class: 'order-show small-text muted' }, 'Show: ', userText(order.show_title || titles.get(order.show_id) || 'a show')),
      h('ul', { class: 'order-items' }, (order.items || []).map((it) => h('li', {},
        `${it.quantity} × `, userText(it.title, 'order-item-title'), ' ',
        h('span', { class: 'muted' }, formatMoney(it.unit_price))))),
      order.email || lines.length ? h('div', { class: 'order-buyer-info' },
        order.email ? h('p', { class: 'order-email' }, h('a', { href: `mailto:${order.email}` }, order.email)) : null,
        lines.length ? h('address', { class: 'order-address', dir: 'auto' },
          lines.flatMap((line, i) => (i ? [h('br'), line] : [line]))) : null) : null,
      h('div', { class: 'order-foot' },
        h('strong', { class: 'order-total' }, formatMoney(order.total)),
        order.refunded_at ? h('span', { class: 'muted order-refunded-at' }, `refunded ${whenText(order.refunded_at)}`) : null,
        refundable(order) ? h('button', {
          type: 'button',
          class: 'refund small danger',
          'aria-label': `Refund order ${id} of ${order.buyer_name}, ${formatMoney(order.total)}`,
          onclick: (e) => refund(order, e.currentTarget),
        }, 'Refund') : null));
    return li;
  }

  function refund(order, opener) {
    ctx.ask({
      title: 'Refund this order?',
      body: [h('p', {}, 'Refund ', h('strong', {}, formatMoney(order.total)), ' to ', userText(order.buyer_name),
        ` for order ${shortId(order.id)}? The money goes back to them and the items go back into stock.`)],
      ok: 'Refund',
      cancel: 'Keep the order',
      danger: true,
      opener,
      words: (e) => orderWords(e.code, e.problem) || e.message,
      run: () => ctx.call('POST', `/api/shows/${order.show_id}/orders/${encodeURIComponent(order.id)}/refund`),
    }).then((done) => {
      if (!done) return;
      // The row as the list shows it now: a filter's reload may have replaced the opener's.
      const li = $('#dash-orders').querySelector(`li.order[data-order-id="${CSS.escape(order.id)}"]`)
        || opener.closest('li.order');
      const fresh = row({ ...order, ...done, show_title: order.show_title });
      if (li) li.replaceWith(fresh);
      toast(`Refunded ${formatMoney(done.total)} to ${done.buyer_name}.`, 'success');
      fresh.tabIndex = -1;
      fresh.focus();
    });
  }

  const listing = pagedList({ list: $('#dash-orders'), more: $('#orders-more'), status: null, render: row });

  function filters() {
    const q = new URLSearchParams();
    if (statusSelect.value) q.set('status', statusSelect.value);
    if (showSelect.value) q.set('show', showSelect.value);
    return q;
  }

  /** On a server without GET /api/me/orders: each show's orders, merged. */
  async function legacyPage() {
    const shows = showSelect.value ? [showSelect.value] : [...titles.keys()];
    const all = [];
    for (const id of shows) {
      const { orders } = await ctx.call('GET', `/api/shows/${id}/orders`);
      for (const o of orders) all.push({ ...o, show_title: titles.get(id) });
    }
    const status = statusSelect.value;
    return { items: newestFirst(all.filter((o) => !status || o.status === status)), next_cursor: null };
  }

  async function fetchPage(cursor) {
    if (!legacy) {
      const q = filters();
      q.set('limit', '20');
      if (cursor) q.set('cursor', cursor);
      try {
        return await ctx.call('GET', `/api/me/orders?${q}`);
      } catch (e) {
        if (!missingRoute(e)) throw e;
        legacy = true;
      }
    }
    return legacyPage();
  }

  async function load() {
    fill(summary, 'Loading…');
    const items = await listing.load(fetchPage, true);
    const more = !$('#orders-more').hidden;
    fill(summary, items.length
      ? `${items.length}${more ? '+' : ''} ${items.length === 1 && !more ? 'order' : 'orders'}${statusSelect.value ? ` (${statusWords(statusSelect.value).toLowerCase()})` : ''}.`
      : 'No orders match.');
  }

  async function fillShows() {
    const shows = await ctx.shows.all();
    const sorted = [...shows].sort((a, b) => Date.parse(b.scheduled_at) - Date.parse(a.scheduled_at));
    titles = new Map(sorted.map((s) => [s.id, s.title]));
    const keep = showSelect.value;
    fill(showSelect, h('option', { value: '' }, 'All shows'),
      sorted.map((s) => h('option', { value: s.id }, `${s.title} · ${new Date(s.scheduled_at).toLocaleDateString()}`)));
    if (keep && titles.has(keep)) showSelect.value = keep;
  }

  showSelect.addEventListener('change', () => load().catch((e) => ctx.failed(e, summary)));
  statusSelect.addEventListener('change', () => load().catch((e) => ctx.failed(e, summary)));
  $('#orders-filter').addEventListener('submit', (e) => e.preventDefault());

  $('#orders-export').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    const q = filters();
    let res;
    try {
      res = await fetch(`/api/me/orders.csv${q.toString() ? `?${q}` : ''}`, {
        headers: { Authorization: `Bearer ${ctx.token}`, Accept: 'text/csv, application/problem+json' },
      });
    } catch {
      throw new Error('The server could not be reached. Check your connection and try again.');
    }
    if (!res.ok) {
      let problem = {};
      try { problem = await res.json(); } catch { /* not JSON */ }
      throw new Error(problem.detail || `The export failed (${res.status}).`);
    }
    const blob = await res.blob();
    const disposition = res.headers.get('content-disposition') || '';
    const named = /filename="?([^";]+)"?/.exec(disposition);
    const filename = named ? named[1] : `orders-${new Date().toISOString().slice(0, 10)}.csv`;
    download(blob, filename);
    fill(summary, `Exported ${filename}.`);
  }, summary));

  return {
    async enter({ focus, show } = {}) {
      try {
        await fillShows();
        if (show !== undefined && titles.has(show)) showSelect.value = show;
        await load();
      } catch (e) {
        ctx.failed(e, summary);
      }
      if (focus) $('#orders-h').focus();
    },
  };
}
