// The dashboard's Catalog section: importing a Shopify CSV in two steps (a dry run shows which
// rows would create, update or be rejected, with each line and reason; then the real import),
// both streamed as ndjson so a file of thousands of rows moves a progress bar; and the product
// list with search and paging, where each product opens a form to edit its title, price, stock,
// image and description, and to put it in one of the creator's shows.

import { ApiError, formatMoney, parseMoney } from '../api.js';
import { $, h, fill, busy, toast, userText } from '../dom.js';
import { apiWords } from './errors.js';
import { fieldProblem, pagedList, readNdjson, webAddress } from './dashutil.js';

/**
 * Sends the CSV `file` to the import (a dry run when `dryRun`), reporting `{done, total}` to
 * `onProgress` as the server streams it; resolves with the report, rejects with an ApiError.
 */
export async function importCsv({ token, file, currency, dryRun, onProgress }) {
  const q = new URLSearchParams();
  if (dryRun) q.set('dry_run', 'true');
  if (currency) q.set('currency', currency);
  let res;
  try {
    res = await fetch(`/api/products/import${q.toString() ? `?${q}` : ''}`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'text/csv',
        Accept: 'application/x-ndjson, application/json;q=0.5, application/problem+json;q=0.5',
      },
      body: file,
    });
  } catch {
    throw new ApiError(0, 'network', apiWords('network'));
  }
  const type = res.headers.get('content-type') || '';
  if (!res.ok) {
    let problem = {};
    try { problem = JSON.parse(await res.text()); } catch { /* not JSON */ }
    const code = problem.code || `http_${res.status}`;
    throw new ApiError(res.status, code, apiWords(code) || problem.detail || problem.title || `The import failed (${res.status}).`, problem);
  }
  if (!type.includes('ndjson')) return JSON.parse(await res.text());
  let report = null;
  let failure = null;
  await readNdjson(res, (line) => {
    if (line.progress) onProgress(line.progress);
    else if (line.report) report = line.report;
    else if (line.error) failure = line.error;
  });
  if (failure) {
    throw new ApiError(failure.status || 422, failure.code || 'import_failed', failure.detail || failure.title || 'The import stopped.', failure);
  }
  if (!report) throw new ApiError(0, 'network', 'The import was cut off before its report. Nothing may have been saved; try again.');
  return report;
}

/** Digits after the point in `currency` (2 for USD, 0 for JPY), as the browser knows them. */
function minorDigits(currency) {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

export function catalogSection(ctx) {
  const form = $('#import-form');
  const fileInput = $('#import-file');
  const error = $('#import-error');
  const progressBox = $('#import-progress-box');
  const progress = $('#import-progress');
  const progressText = $('#import-progress-text');
  const report = $('#import-report');
  let previewed = null; // { file, currency, report } after a dry run

  function setProgress(label, p) {
    progressBox.hidden = false;
    fill($('#import-progress-label'), label);
    if (!p || !p.total) {
      progress.removeAttribute('value'); // indeterminate until the server counts the rows
      fill(progressText, 'Uploading…');
      return;
    }
    progress.max = p.total;
    progress.value = Math.min(p.done, p.total);
    fill(progressText, `${p.done} of ${p.total} rows`);
  }

  function rows(listId, boxId, items, line) {
    const box = $(boxId);
    box.hidden = !items.length;
    fill($(`#${listId}`), items.map((it) => h('li', { dataset: { line: String(it.line) } }, line(it))));
    fill(box.querySelector('summary'), `${box.dataset.label || box.querySelector('summary').textContent.replace(/ \(\d+\)$/, '')} (${items.length})`);
  }

  function showReport(r, dry) {
    report.hidden = false;
    report.dataset.dryRun = String(!!dry);
    fill($('#import-report-h'), dry ? 'Preview: nothing is saved yet' : 'Imported');
    const counts = [
      ['created', dry ? plural(r.created.length, 'new product', 'new products') : plural(r.created.length, 'product created', 'products created')],
      ['updated', dry ? plural(r.updated.length, 'product to update', 'products to update') : plural(r.updated.length, 'product updated', 'products updated')],
      ['rejected', plural(r.rejected.length, 'row rejected', 'rows rejected')],
    ];
    fill($('#import-counts'), counts.map(([k, text]) => h('li', { class: `count-${k}`, dataset: { kind: k, count: String(r[k].length) } }, text)));
    rows('import-rejected', '#import-rejected-box', r.rejected, (it) => [h('strong', {}, `Line ${it.line}: `), userText(it.reason)]);
    rows('import-created', '#import-created-box', r.created, (it) => `Line ${it.line}: ${it.sku}`);
    rows('import-updated', '#import-updated-box', r.updated, (it) => `Line ${it.line}: ${it.sku}`);
    $('#import-rejected-box').open = r.rejected.length > 0 && r.rejected.length <= 20;
    const changes = r.created.length + r.updated.length;
    $('#import-actions').hidden = !dry;
    $('#import-commit').disabled = !changes;
    fill($('#import-commit'), changes ? `Import ${plural(changes, 'product', 'products')}` : 'Nothing to import');
    $('#import-report-h').focus();
  }

  for (const id of ['#import-rejected-box', '#import-created-box', '#import-updated-box']) {
    $(id).dataset.label = $(id).querySelector('summary').textContent;
  }

  async function run(dryRun, file, currency, button) {
    fieldProblem(form, error);
    setProgress(dryRun ? 'Checking the file…' : 'Importing…', null);
    try {
      const r = await importCsv({
        token: ctx.token, file, currency, dryRun,
        onProgress: (p) => setProgress(dryRun ? 'Checking the file…' : 'Importing…', p),
      });
      progress.max = 1;
      progress.value = 1;
      fill(progressText, dryRun ? 'Checked.' : 'Done.');
      return r;
    } catch (e) {
      progressBox.hidden = true;
      if (e.status === 401) ctx.failed(e);
      fieldProblem(form, error, null, e.message);
      if (button) button.focus();
      return null;
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const file = fileInput.files && fileInput.files[0];
    if (!file) {
      fieldProblem(form, error, fileInput, 'Choose the CSV file first.');
      return;
    }
    const currency = $('#import-currency').value.trim().toUpperCase();
    if (!/^[A-Z]{3}$/.test(currency)) {
      fieldProblem(form, error, $('#import-currency'), 'The currency is a three-letter code, like USD or EUR.');
      return;
    }
    report.hidden = true;
    previewed = null;
    busy($('#import-preview'), async () => {
      const r = await run(true, file, currency, $('#import-preview'));
      if (!r) return;
      previewed = { file, currency, report: r };
      showReport(r, true);
    });
  });

  $('#import-commit').addEventListener('click', (e) => {
    if (!previewed) return;
    const { file, currency } = previewed;
    busy(e.currentTarget, async () => {
      $('#import-actions').hidden = true;
      const r = await run(false, file, currency, $('#import-preview'));
      if (!r) {
        $('#import-actions').hidden = false;
        return;
      }
      previewed = null;
      form.reset();
      $('#import-currency').value = currency;
      showReport(r, false);
      toast(`Imported: ${r.created.length} new, ${r.updated.length} updated.`, 'success');
      ctx.catalogChanged();
      await loadProducts();
    });
  });

  $('#import-discard').addEventListener('click', () => {
    previewed = null;
    report.hidden = true;
    progressBox.hidden = true;
    form.reset();
    fileInput.focus();
  });

  // ---- products ------------------------------------------------------------------------------

  const listing = pagedList({
    list: $('#products-list'),
    more: $('#products-more'),
    status: $('#products-status'),
    empty: '',
    render: productRow,
  });
  let query = '';

  async function loadProducts() {
    fill($('#products-status'), 'Loading…');
    const items = await listing.load(async (cursor) => {
      const q = new URLSearchParams({ limit: '20' });
      if (query) q.set('q', query);
      if (cursor) q.set('cursor', cursor);
      return ctx.call('GET', `/api/products?${q}`);
    }, true);
    if (!items.length) {
      fill($('#products-status'), query
        ? `No product matches “${query}”.`
        : 'No products yet: import a Shopify CSV above.');
    }
  }

  $('#product-search').addEventListener('submit', (e) => {
    e.preventDefault();
    query = $('#product-q').value.trim();
    busy($('#product-search-submit'), loadProducts, $('#products-status'));
  });

  function productRow(p) {
    const key = p.id;
    const li = h('li', { class: 'product', dataset: { productId: p.id, sku: p.sku } });
    const panelId = `product-panel-${key}`;
    const summary = h('div', { class: 'product-main' });
    const toggle = h('button', {
      type: 'button', class: 'small product-edit', 'aria-expanded': 'false', 'aria-controls': panelId,
      'aria-label': `Edit ${p.title}`,
    }, 'Edit');
    const panel = h('div', { class: 'product-panel', id: panelId, hidden: true });

    function paintSummary(prod) {
      fill(summary,
        prod.image_url ? h('img', { class: 'thumb', src: prod.image_url, alt: '', loading: 'lazy' }) : h('span', { class: 'thumb thumb-empty', 'aria-hidden': 'true' }),
        h('span', { class: 'product-text' },
          userText(prod.title, 'product-title'),
          h('span', { class: 'muted small-text' },
            h('span', { class: 'product-sku' }, prod.sku), ' · ',
            h('span', { class: 'product-price' }, formatMoney(prod.price)), ' · ',
            h('span', { class: 'product-stock', dataset: { stock: String(prod.stock) } }, `${prod.stock} in stock`))),
        toggle);
    }
    paintSummary(p);

    toggle.addEventListener('click', async () => {
      const open = panel.hidden;
      panel.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      fill(toggle, open ? 'Close' : 'Edit');
      if (open) {
        fill(panel, editForm(p, (saved) => { p = saved; paintSummary(saved); }), await toShowForm(p));
        panel.querySelector('input').focus();
      }
    });
    li.append(summary, panel);
    return li;
  }

  function field(id, label, attrs, hint) {
    return h('div', { class: 'field' },
      h('label', { for: id }, label),
      h('input', { id, ...attrs }),
      hint ? h('p', { class: 'hint muted small-text', id: `${id}-hint` }, hint) : null);
  }

  function editForm(initial, saved) {
    let p = initial; // what the server holds, compared against on each save
    const k = p.id;
    const error = h('p', { class: 'error-text form-error', role: 'alert', hidden: true });
    const exp = minorDigits(p.price.currency);
    const priceText = (p.price.amount / 10 ** exp).toFixed(exp);
    const form = h('form', { class: 'product-form dash-form', novalidate: true, 'aria-label': `Edit ${p.title}` },
      field(`pt-${k}`, 'Title', { name: 'title', value: p.title, required: true, maxlength: '200', dir: 'auto', autocomplete: 'off' }),
      h('div', { class: 'field-pair' },
        field(`pp-${k}`, `Price (${p.price.currency})`, { name: 'price', value: priceText, inputmode: 'decimal', autocomplete: 'off', required: true }),
        field(`ps-${k}`, 'Stock', { name: 'stock', value: String(p.stock), inputmode: 'numeric', autocomplete: 'off', required: true })),
      field(`pi-${k}`, 'Image URL', { name: 'image_url', value: p.image_url || '', type: 'url', inputmode: 'url', autocomplete: 'off', placeholder: 'https://…' }),
      h('div', { class: 'field' },
        h('label', { for: `pd-${k}` }, 'Description'),
        h('textarea', { id: `pd-${k}`, name: 'description', rows: '3', dir: 'auto' }, p.description || '')),
      error,
      h('button', { type: 'submit', class: 'primary product-save' }, 'Save'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const el = (name) => form.elements[name];
      const body = {};
      const title = el('title').value.trim();
      if (!title) return fieldProblem(form, error, el('title'), 'The title cannot be empty.');
      if (title !== p.title) body.title = title;
      const amount = parseMoney(el('price').value, p.price.currency);
      if (amount === null) return fieldProblem(form, error, el('price'), `Enter the price as a number, like ${priceText}.`);
      if (amount !== p.price.amount) body.price = { amount, currency: p.price.currency };
      const stockText = el('stock').value.trim();
      if (!/^\d+$/.test(stockText) || Number(stockText) > 1e9) {
        return fieldProblem(form, error, el('stock'), 'Stock is a whole number from 0.');
      }
      if (Number(stockText) !== p.stock) body.stock = Number(stockText);
      const image = el('image_url').value.trim();
      if (image && !webAddress(image) && !image.startsWith('/')) {
        return fieldProblem(form, error, el('image_url'), 'The image must be a web address (https://…).');
      }
      if (image !== (p.image_url || '')) body.image_url = image || null;
      const description = el('description').value.trim();
      if (description !== (p.description || '')) body.description = description || null;
      if (!Object.keys(body).length) return fieldProblem(form, error, null, 'Nothing changed.');
      return busy(form.querySelector('.product-save'), async () => {
        const updated = await ctx.call('PATCH', `/api/products/${p.id}`, body);
        fieldProblem(form, error);
        p = updated;
        saved(updated);
        ctx.catalogChanged();
        toast(`Saved “${updated.title}”.`, 'success');
      }, error);
    });
    return form;
  }

  async function toShowForm(p) {
    const k = p.id;
    let shows = [];
    try {
      shows = (await ctx.shows.all()).filter((s) => s.status === 'scheduled' || s.status === 'live');
    } catch { /* the form says there are none */ }
    const status = h('p', { class: 'small-text', role: 'status', 'aria-live': 'polite' });
    if (!shows.length) return h('p', { class: 'muted small-text' }, 'Schedule a show to put this product in its lineup.');
    const select = h('select', { id: `pl-${k}`, name: 'show' },
      shows.map((s) => h('option', { value: s.id }, `${s.title} (${s.status === 'live' ? 'live' : new Date(s.scheduled_at).toLocaleDateString()})`)));
    const button = h('button', { type: 'submit', class: 'product-to-show' }, 'Add to the show');
    const form = h('form', { class: 'row product-to-show-form', 'aria-label': `Put ${p.title} in a show` },
      h('div', { class: 'field grow' }, h('label', { for: `pl-${k}` }, 'Put it in a show'), select), button);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const title = select.selectedOptions[0]?.textContent || '';
      busy(button, async () => {
        await ctx.call('POST', `/api/shows/${select.value}/lineup`, { product_id: p.id });
        fill(status, `Added to ${title}.`);
      }, status);
    });
    return h('div', {}, form, status);
  }

  return {
    async enter({ focus } = {}) {
      await loadProducts().catch((e) => ctx.failed(e, $('#products-status')));
      if (focus) $('#catalog-h').focus();
    },
  };
}
