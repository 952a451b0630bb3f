// /admin, the operator's page: behind the admin token (from the link's fragment
// `#token=…`, kept in this tab's sessionStorage and taken out of the address bar, or typed
// into the form). Creates creators and shows their sign-in link to copy, lists creators with a
// "new sign-in link" button each, and shows readiness, the store, the nodes and live shows.

import { $, h, fill, busy, toast } from './dom.js';
import { api } from './api.js';

const KEY = 'livesale:admin';
const session = {
  get() { try { return sessionStorage.getItem(KEY); } catch { return null; } },
  set(v) {
    try { if (v) sessionStorage.setItem(KEY, v); else sessionStorage.removeItem(KEY); } catch { /* this visit only */ }
  },
};

let token = null;
let cursor = null;
const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function fmt(at) {
  const d = new Date(at);
  return Number.isNaN(d.getTime()) ? at : when.format(d);
}

function takeTokenFromLink() {
  const frag = new URLSearchParams(location.hash.slice(1));
  const t = frag.get('token');
  if (!t) return null;
  history.replaceState(null, '', location.pathname + location.search);
  return t;
}

async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard permission: select the text so Ctrl+C / long-press copies it.
    if (input) { input.focus(); input.select(); }
    document.execCommand && document.execCommand('copy');
  }
  toast('Link copied', 'success');
}

function showAuth(message) {
  token = null;
  session.set(null);
  $('#admin-main').hidden = true;
  $('#admin-auth').hidden = false;
  const err = $('#auth-error');
  err.hidden = !message;
  err.textContent = message || '';
}

async function overview() {
  const o = await api('GET', '/api/admin/overview', { token });
  const ready = $('#readiness');
  fill(ready, o.ready ? 'Ready' : 'Not ready', ` · store: ${o.store}`);
  ready.dataset.ready = String(o.ready);
  fill($('#nodes-list'), o.nodes.length ? o.nodes.map((n) => h('li', { class: 'node', dataset: { nodeId: n.id } },
    h('strong', {}, n.id), ' ', h('span', { class: 'muted' }, `${n.url} · v${n.version}`),
    h('br'), h('span', { class: 'muted' }, `up since ${fmt(n.started_at)} · seen ${fmt(n.seen_at)}`)))
    : h('li', { class: 'muted' }, 'No node has reported yet.'));
  fill($('#live-list'), o.live_shows.length ? o.live_shows.map((s) => h('li', { class: 'live-show', dataset: { showId: s.id } },
    h('a', { href: `/s/${s.id}` }, h('bdi', { dir: 'auto' }, s.title)),
    ' ', h('span', { class: 'muted' }, s.started_at ? `live since ${fmt(s.started_at)}` : 'live')))
    : h('li', { class: 'muted' }, 'No show is live right now.'));
  return o;
}

function linkBox(url, labelText) {
  const id = `link-${Math.random().toString(36).slice(2)}`;
  const input = h('input', { id, readonly: true, value: url, class: 'link-url' });
  return h('div', { class: 'link-box' },
    h('label', { for: id }, labelText),
    h('div', { class: 'row' }, h('div', { class: 'field grow' }, input),
      h('button', { type: 'button', class: 'small copy', onclick: () => copy(url, input) }, 'Copy')));
}

function creatorItem(c) {
  const slot = h('div', { class: 'link-slot' });
  const button = h('button', { type: 'button', class: 'small new-link' }, 'New sign-in link');
  button.setAttribute('aria-label', `New sign-in link for ${c.name}`);
  button.addEventListener('click', () => busy(button, async () => {
    const r = await api('POST', `/api/creators/${c.id}/signin-links`, { token });
    fill(slot, linkBox(r.url, `Sign-in link for ${c.name}`));
    slot.querySelector('input').focus();
  }));
  return h('li', { class: 'creator', dataset: { creatorId: c.id } },
    h('div', { class: 'creator-head' },
      h('span', {}, h('bdi', { dir: 'auto', class: 'creator-name' }, c.name),
        h('br'), h('span', { class: 'muted' }, `since ${fmt(c.created_at)}`)),
      button),
    slot);
}

async function loadCreators(reset) {
  if (reset) { cursor = null; fill($('#creators-list')); }
  const q = new URLSearchParams({ limit: '50' });
  if (cursor) q.set('cursor', cursor);
  const page = await api('GET', `/api/creators?${q}`, { token });
  const list = $('#creators-list');
  if (reset && !page.items.length) list.appendChild(h('li', { class: 'muted' }, 'No creators yet.'));
  for (const c of page.items) list.appendChild(creatorItem(c));
  cursor = page.next_cursor;
  $('#more-creators').hidden = !cursor;
}

async function open(candidate) {
  token = candidate;
  try {
    await overview();
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      showAuth('That is not the admin token of this server.');
      return false;
    }
    showAuth(e.message);
    return false;
  }
  session.set(token);
  $('#admin-auth').hidden = true;
  $('#admin-main').hidden = false;
  await loadCreators(true);
  return true;
}

$('#token-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('#admin-token');
  const button = ev.submitter || $('#token-form button');
  await busy(button, async () => {
    if (await open(input.value.trim())) {
      input.value = '';
      $('#health-title').setAttribute('tabindex', '-1');
      $('#health-title').focus();
    }
  }, $('#auth-error'));
});

$('#create-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('#creator-name');
  const button = ev.submitter || $('#create-form button');
  const err = $('#create-error');
  err.hidden = true;
  await busy(button, async () => {
    const made = await api('POST', '/api/creators', { token, body: { name: input.value } });
    const box = $('#new-link');
    $('#new-link-what').textContent = `${input.value.trim()} can sign in with this link:`;
    $('#new-link-url').value = made.signin_url;
    box.hidden = false;
    box.dataset.creatorId = made.id;
    input.value = '';
    $('#new-link-url').focus();
    $('#new-link-url').select();
    await loadCreators(true);
  }, err);
});

$('#copy-new-link').addEventListener('click', () => copy($('#new-link-url').value, $('#new-link-url')));
$('#more-creators').addEventListener('click', (ev) => busy(ev.currentTarget, () => loadCreators(false)));
$('#refresh').addEventListener('click', (ev) => busy(ev.currentTarget, overview));
$('#forget-token').addEventListener('click', () => showAuth(null));

window.livesale = { ready: false, page: 'admin' };
const start = takeTokenFromLink() || session.get();
if (start) await open(start);
else showAuth(null);
window.livesale.ready = true;
