// The studio's order list: every order of the show, newest first, each with its short id,
// buyer, items, total, status in words and time; a paid order also shows where it goes (email
// and shipping address, folded away) and a Refund button. A refund asks first in the refund
// dialog (#refund-dialog, Esc or "Keep the order" closes it), then calls the refund route and
// says what happened: a refusal stays in the dialog in words (errors.js), a success closes it
// and the row says Refunded. The list itself comes from the same `GET …/orders` that feeds the
// live numbers (stats.js), so it refreshes with them after a purchase and after a refund.

import { $, h, fill, busy, toast, userText } from '../dom.js';
import { formatMoney } from '../api.js';
import { orderWords } from './errors.js';

/** An order's status as the creator reads it. */
const STATUS = {
  paid: 'Paid',
  pending_payment: 'Awaiting payment',
  failed: 'Failed',
  expired: 'Expired',
  refunded: 'Refunded',
};

/** The words for an order status (an unknown one as it came). */
export function statusWords(status) {
  return Object.hasOwn(STATUS, status) ? STATUS[status] : String(status || '');
}

/** Orders newest first (ties broken by id, so the order never jumps between refreshes). */
export function newestFirst(orders) {
  return [...(orders || [])].sort((a, b) => (Date.parse(b.created_at) - Date.parse(a.created_at))
    || String(b.id).localeCompare(String(a.id)));
}

/**
 * "#1f2e3d4c": enough of the id to tell orders apart out loud. The end of it: order ids are
 * time-ordered (UUID v7), so orders of the same minute share their first digits.
 */
export function shortId(id) {
  return `#${String(id || '').replace(/-/g, '').slice(-8)}`;
}

/** A shipping address as the lines of a label. */
export function addressLines(s) {
  if (!s) return [];
  const place = [s.postal_code, s.city].filter(Boolean).join(' ');
  return [s.name, s.line1, s.line2, [place, s.state].filter(Boolean).join(', '), s.country]
    .filter((line) => line && String(line).trim());
}

/** Only a paid order can be refunded. */
export function refundable(order) {
  return !!order && order.status === 'paid';
}

/** A time of today as "14:05", of another day with its date. */
function when(at) {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date().toDateString() === d.toDateString();
  return today
    ? d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function itemsList(order) {
  return h('ul', { class: 'order-items' }, (order.items || []).map((it) => h('li', {},
    `${it.quantity} × `, userText(it.title, 'order-item-title'), ' ',
    h('span', { class: 'muted' }, formatMoney(it.unit_price)))));
}

/** Email and address of a paid order, folded (a <details> opens with a tap or Enter). */
function delivery(order) {
  const lines = addressLines(order.shipping);
  if (!order.email && !lines.length) return null;
  return h('details', { class: 'order-delivery' },
    h('summary', {}, 'Email and shipping address'),
    order.email ? h('p', { class: 'order-email' }, h('a', { href: `mailto:${order.email}` }, order.email)) : null,
    lines.length ? h('address', { class: 'order-address', dir: 'auto' },
      lines.flatMap((line, i) => (i ? [h('br'), line] : [line]))) : null);
}

/**
 * The order list bound to the studio's #orders-list and #refund-dialog. `call` is the creator's
 * API call, `refreshed` asks for the list again (stats.js's loadOrders). Returns
 * `{render(answer), failed(error)}` for the answer of `GET …/orders`.
 */
export function orderList({ base, call, refreshed }) {
  const list = $('#orders-list');
  const empty = $('#orders-empty');
  const note = $('#orders-status');
  const dialog = $('#refund-dialog');
  const dialogError = $('#refund-error');
  const confirm = $('#refund-confirm');
  let pending = null; // { order, opener } while the dialog asks
  const notes = new Map(); // order id → what the last refund of it said (kept across refreshes)

  function row(order) {
    const id = shortId(order.id);
    const li = h('li', { class: 'order', dataset: { orderId: order.id, status: order.status } },
      h('div', { class: 'order-head' },
        h('span', { class: 'order-id', title: order.id }, id),
        userText(order.buyer_name, 'order-buyer'),
        h('span', { class: 'order-status badge', dataset: { status: order.status } }, statusWords(order.status)),
        h('time', { class: 'order-time muted', datetime: order.created_at }, when(order.created_at))),
      itemsList(order),
      h('div', { class: 'order-foot' },
        h('strong', { class: 'order-total' }, formatMoney(order.total)),
        order.refunded_at ? h('span', { class: 'muted order-refunded-at' }, `refunded ${when(order.refunded_at)}`) : null,
        refundable(order) ? h('button', {
          type: 'button',
          class: 'refund small danger',
          'aria-label': `Refund order ${id} of ${order.buyer_name}, ${formatMoney(order.total)}`,
          onclick: (e) => ask(order, e.currentTarget),
        }, 'Refund') : null),
      refundable(order) ? delivery(order) : null);
    const said = notes.get(order.id);
    if (said) li.appendChild(h('p', { class: 'order-note' }, said));
    return li;
  }

  function render(answer) {
    const orders = newestFirst(answer && answer.orders);
    note.hidden = true;
    empty.hidden = orders.length > 0;
    // A keyboard user keeps their place when the rows are drawn again: the row's button, or
    // the row itself once its Refund button is gone.
    const focused = document.activeElement && document.activeElement.closest
      && document.activeElement.closest('#orders-list li.order');
    const focusId = focused && focused.dataset.orderId;
    fill(list, orders.map(row));
    if (focusId) focusRow(focusId);
  }

  function focusRow(id) {
    const li = list.querySelector(`li.order[data-order-id="${CSS.escape(id)}"]`);
    if (!li) return;
    const button = li.querySelector('button.refund');
    if (button) {
      button.focus();
    } else {
      li.tabIndex = -1;
      li.focus();
    }
  }

  function failed(e) {
    fill(note, `The orders could not be loaded: ${(e && e.message) || e}`);
    note.hidden = false;
  }

  function ask(order, opener) {
    pending = { order, opener };
    fill($('#refund-dialog-body'),
      'Refund ', h('strong', {}, formatMoney(order.total)), ' to ', userText(order.buyer_name),
      ` for order ${shortId(order.id)}? The money goes back to their card and the items go back into stock.`);
    dialogError.hidden = true;
    fill(dialogError);
    if (!dialog.open) dialog.showModal();
    $('#refund-cancel').focus();
  }

  async function refund() {
    if (!pending) return;
    const { order } = pending;
    const done = await busy(confirm, async () => {
      try {
        return await call('POST', `${base}/orders/${encodeURIComponent(order.id)}/refund`);
      } catch (e) {
        e.message = orderWords(e.code, e.problem) || e.message;
        throw e;
      }
    }, dialogError);
    if (done) {
      const said = `Refunded ${formatMoney(done.total)} to ${done.buyer_name}; the items are back in stock.`;
      notes.set(order.id, said);
      toast(said, 'success');
      dialog.close();
    }
    // Refused or not, the list shows the order as it is now (another tab may have refunded it).
    refreshed();
  }

  confirm.addEventListener('click', refund);
  dialog.addEventListener('close', () => {
    const { order, opener } = pending || {};
    pending = null;
    if (opener && opener.isConnected) opener.focus();
    else if (order) focusRow(order.id);
  });

  return { render, failed };
}
