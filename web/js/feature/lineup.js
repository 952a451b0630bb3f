// The studio's lineup: the show's products with Pin / Unpin, a flash-deal form per product
// (checked here before it is sent, each field's problem next to it), the pin's state in one line
// (deals.js) kept ticking while a deal runs, and adding products from the catalog.

import { listAll, formatMoney, parseMoney } from '../api.js';
import { $, $$, h, fill, busy, toast } from '../dom.js';
import { dealOpen, dealSummary, everyTick } from './deals.js';

function field(form, name, labelText, attrs) {
  const id = `${name}-${form}`;
  return h('div', { class: 'field' },
    h('label', { for: id }, labelText),
    h('input', { id, name, required: true, ...attrs }));
}

function fieldError(form, error, input, message) {
  for (const i of $$('input', form)) i.removeAttribute('aria-invalid');
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
  fill(error, message);
  error.hidden = false;
}

/** The deal of a form's inputs, or `{input, message}` for the first field that is wrong. */
function readDeal(p, inputs) {
  const int = (name) => {
    const t = inputs[name].value.trim();
    return /^\d+$/.test(t) ? Number(t) : null;
  };
  const price = parseMoney(inputs.price.value, p.price.currency);
  if (price === null) {
    return { input: inputs.price, message: `Enter the deal price as a number, like ${formatMoney({ amount: Math.round(p.price.amount * 0.8), currency: p.price.currency }).replace(/[^\d.,]/g, '')}.` };
  }
  if (price >= p.price.amount) {
    return { input: inputs.price, message: `The deal price must be below the regular price (${formatMoney(p.price)}).` };
  }
  const quantity = int('quantity');
  if (!quantity || quantity < 1 || quantity > 1000000) {
    return { input: inputs.quantity, message: 'Quantity must be a whole number from 1 to 1,000,000.' };
  }
  const limit = int('per_buyer_limit');
  if (!limit || limit < 1 || limit > quantity) {
    return { input: inputs.per_buyer_limit, message: `The per-buyer limit must be a whole number from 1 to the quantity (${quantity}).` };
  }
  const duration = int('duration_s');
  if (!duration || duration < 10 || duration > 86400) {
    return { input: inputs.duration_s, message: 'Duration must be from 10 to 86400 seconds (24 hours).' };
  }
  return { deal: { price, quantity, per_buyer_limit: limit, duration_s: duration } };
}

function dealForm(p, onSubmit) {
  const key = p.id;
  const error = h('p', { class: 'form-error error-text', id: `deal-error-${key}`, role: 'alert', hidden: true });
  const form = h('form', { class: 'deal-form', novalidate: true, 'aria-label': `Deal for ${p.title}`, 'aria-describedby': error.id },
    h('p', { class: 'deal-head' }, 'Flash deal'),
    h('div', { class: 'deal-fields' },
      field(key, 'price', `Deal price (${p.price.currency})`, { inputmode: 'decimal', autocomplete: 'off', placeholder: 'e.g. 9.99' }),
      field(key, 'quantity', 'Quantity', { type: 'number', min: '1', step: '1', value: String(Math.min(10, Math.max(1, p.stock))) }),
      field(key, 'per_buyer_limit', 'Per buyer', { type: 'number', min: '1', step: '1', value: '1' }),
      field(key, 'duration_s', 'Duration (s)', { type: 'number', min: '10', max: '86400', step: '1', value: '300' })),
    error,
    h('button', { type: 'submit', class: 'primary small deal-submit' }, 'Pin with this deal'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    onSubmit(form, error);
  });
  return form;
}

/**
 * The lineup of the studio `state` (`products`, `pins`); `call` is the studio's API call.
 * Returns `{load, applyPins}`.
 */
export function lineup({ base, call, token, state }) {
  const list = $('#lineup');

  function submitDeal(p, form, error) {
    const inputs = Object.fromEntries($$('input', form).map((i) => [i.name, i]));
    error.hidden = true;
    const read = readDeal(p, inputs);
    if (!read.deal) return fieldError(form, error, read.input, read.message);
    for (const i of $$('input', form)) i.removeAttribute('aria-invalid');
    return busy($('.deal-submit', form), async () => {
      const res = await call('POST', `${base}/pins`, { product_id: p.id, deal: read.deal });
      applyPins(res.pins);
      toast(`Pinned ${p.title} at ${formatMoney({ amount: read.deal.price, currency: p.price.currency })}.`, 'success');
    }, error);
  }

  function pinButtons(p, itemError) {
    const pinBtn = h('button', { type: 'button', class: 'pin small', 'aria-label': `Pin ${p.title}` }, 'Pin');
    const unpinBtn = h('button', { type: 'button', class: 'unpin small', 'aria-label': `Unpin ${p.title}`, hidden: true }, 'Unpin');
    pinBtn.addEventListener('click', () => busy(pinBtn, async () => {
      itemError.hidden = true;
      const res = await call('POST', `${base}/pins`, { product_id: p.id });
      applyPins(res.pins);
      toast(`Pinned ${p.title}.`, 'success');
    }, itemError));
    unpinBtn.addEventListener('click', () => busy(unpinBtn, async () => {
      itemError.hidden = true;
      await call('DELETE', `${base}/pins/${p.id}`);
      state.pins.delete(p.id);
      renderPins();
    }, itemError));
    return [pinBtn, unpinBtn];
  }

  function renderProduct(p) {
    const itemError = h('p', { class: 'item-error error-text', role: 'alert', hidden: true });
    return h('li', { class: 'lineup-item', dataset: { productId: p.id } },
      h('div', { class: 'item-main' },
        p.image_url ? h('img', { class: 'thumb', src: p.image_url, alt: '', width: 56, height: 56, loading: 'lazy' }) : h('span', { class: 'thumb' }),
        h('div', { class: 'item-text' },
          h('bdi', { class: 'lineup-title', dir: 'auto' }, p.title),
          h('span', { class: 'price' }, formatMoney(p.price)),
          h('span', { class: 'stock muted' }, `${p.stock} in stock`),
          h('span', { class: 'pin-state', 'aria-live': 'polite' })),
        h('div', { class: 'item-actions' }, ...pinButtons(p, itemError))),
      itemError,
      h('div', { class: 'deal' }, dealForm(p, (form, error) => submitDeal(p, form, error))));
  }

  function renderLineup(products) {
    state.products = new Map(products.map((p) => [p.id, p]));
    list.replaceChildren(...products.map(renderProduct));
    if (!products.length) list.appendChild(h('li', { class: 'muted' }, 'No products in this show yet.'));
    renderPins();
  }

  function applyPins(pins) {
    state.pins = new Map((pins || []).map((p) => [p.product_id, p]));
    renderPins();
  }

  function renderPins() {
    for (const li of $$('.lineup-item', list)) {
      // The server-rendered items have no buttons yet: the room's welcome can come before the
      // lineup is loaded, and renderLineup() renders the pins again once it is.
      if (!$('.pin', li)) continue;
      const pin = state.pins.get(li.dataset.productId);
      li.classList.toggle('pinned', !!pin);
      li.classList.toggle('has-deal', dealOpen(pin));
      $('.pin', li).hidden = !!pin;
      $('.unpin', li).hidden = !pin;
      const text = dealSummary(pin);
      const el = $('.pin-state', li);
      if (el.textContent !== text) el.textContent = text;
      if (pin) $('.stock', li).textContent = `${pin.stock_left} in stock`;
    }
  }

  async function loadCatalog() {
    const form = $('#add-product-form');
    try {
      const catalog = await listAll('/api/products', { token });
      const others = catalog.filter((p) => !state.products.has(p.id));
      fill($('#add-product'), ...others.map((p) => h('option', { value: p.id }, `${p.title} · ${formatMoney(p.price)}`)));
      form.hidden = others.length === 0;
    } catch (e) {
      form.hidden = true;
      console.warn('catalog', e);
    }
  }

  async function load() {
    const res = await call('GET', `${base}/lineup`);
    renderLineup(res.products || []);
    loadCatalog();
  }

  $('#add-product-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('#add-product').value;
    if (!id) return;
    busy($('#add-product-btn'), async () => {
      const res = await call('POST', `${base}/lineup`, { product_id: id });
      renderLineup(res.products || []);
      loadCatalog();
      toast('Added to the lineup.', 'success');
    });
  });

  // Deal countdowns.
  everyTick(() => { if ([...state.pins.values()].some(dealOpen)) renderPins(); });
  return { load, applyPins };
}
