// The studio's live numbers: people watching (from the room) and paid orders and revenue (read
// from the API, again shortly after each purchase). The same answer feeds the order list
// (`orders`, feature/orders.js), so the numbers and the list never disagree.

import { $ } from '../dom.js';
import { formatMoney } from '../api.js';

/**
 * The numbers of `state` (`orders`, `revenue`); `orders` (optional) gets every answer of
 * `GET …/orders` (`render`) or its failure (`failed`). Returns `{setViewers, loadOrders,
 * ordersSoon}`.
 */
export function liveStats({ state, base, call, orders = null }) {
  let timer = null;

  function setViewers(n) {
    $('#stat-viewers').textContent = String(n ?? 0);
  }

  let asked = 0; // the latest request: an older answer arriving after it is dropped

  async function loadOrders() {
    const mine = ++asked;
    let o;
    try {
      o = await call('GET', `${base}/orders`);
    } catch (e) {
      console.warn('orders', e);
      if (orders && mine === asked) orders.failed(e);
      return;
    }
    if (mine !== asked) return;
    const paid = typeof o.paid === 'number' ? o.paid : o.orders.filter((x) => x.status === 'paid').length;
    state.orders = paid;
    state.revenue = o.total;
    $('#stat-orders').textContent = String(paid);
    $('#stat-revenue').textContent = formatMoney(o.total);
    if (orders) orders.render(o);
  }

  function ordersSoon() {
    clearTimeout(timer);
    timer = setTimeout(loadOrders, 250);
  }

  return { setViewers, loadOrders, ordersSoon };
}
