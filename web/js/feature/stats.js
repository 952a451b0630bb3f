// The studio's live numbers: people watching (from the room) and paid orders and revenue (read
// from the API, again shortly after each purchase).

import { $ } from '../dom.js';
import { formatMoney } from '../api.js';

/** The numbers of `state` (`orders`, `revenue`); returns `{setViewers, loadOrders, ordersSoon}`. */
export function liveStats({ state, base, call }) {
  let timer = null;

  function setViewers(n) {
    $('#stat-viewers').textContent = String(n ?? 0);
  }

  async function loadOrders() {
    try {
      const o = await call('GET', `${base}/orders`);
      const paid = typeof o.paid === 'number' ? o.paid : o.orders.filter((x) => x.status === 'paid').length;
      state.orders = paid;
      state.revenue = o.total;
      $('#stat-orders').textContent = String(paid);
      $('#stat-revenue').textContent = formatMoney(o.total);
    } catch (e) {
      console.warn('orders', e);
    }
  }

  function ordersSoon() {
    clearTimeout(timer);
    timer = setTimeout(loadOrders, 250);
  }

  return { setViewers, loadOrders, ordersSoon };
}
