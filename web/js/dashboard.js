// The creator's dashboard (/dashboard): Shows, Catalog, Orders and Settings, one section at a
// time behind a nav of links (`#shows`, `#shows/<id>`, `#catalog`, `#orders`, `#settings`), so
// the back button, bookmarks and the keyboard all work. It signs in with the creator token the
// browser keeps (`livesale:creator`, put there by /signin or a studio link); without one, or
// when the server refuses it, it says so and links to /signin. It speaks only the public API
// (../shared API.md); the sections live in feature/dash*.js and the hooks tests rely on are in
// docs/web-hooks.md.

import { api, listAll, store, tokenFromLink } from './api.js';
import { $, $$, fill } from './dom.js';
import { confirmDialog } from './feature/dashutil.js';
import { myShows, showsSection } from './feature/dashshows.js';
import { catalogSection } from './feature/dashcatalog.js';
import { ordersSection } from './feature/dashorders.js';
import { settingsSection } from './feature/dashsettings.js';

const TABS = ['shows', 'catalog', 'orders', 'settings'];
const token = tokenFromLink('creator');
const gate = $('#gate');
const app = $('#dash-app');

/** Closes the dashboard and explains why, with the way back in. */
function shut(message) {
  app.hidden = true;
  gate.hidden = false;
  fill($('#gate-text'), message);
  $('#gate-actions').hidden = false;
  document.body.dataset.signedIn = 'false';
  if (window.livesale) window.livesale.signedIn = false;
  $('#gate-signin').focus();
  // A sign-in link opened in this very tab only changes the fragment: start again with it.
  addEventListener('hashchange', () => {
    if (new URLSearchParams(location.hash.slice(1)).has('token')) location.reload();
  }, { once: true });
}

/** Forgets this browser's creator token (and the per-show studio copies of it). */
function forget() {
  store.set('creator', null);
  try {
    for (const key of Object.keys(localStorage)) {
      if (key.startsWith('livesale:studio:')) localStorage.removeItem(key);
    }
  } catch { /* storage unavailable */ }
}

const ctx = {
  token,
  me: null,
  call(method, path, body) {
    return api(method, path, { token, body }).catch((e) => {
      if (e.status === 401) {
        forget();
        shut('Your sign-in is no longer valid (you may have signed out everywhere). Open a new sign-in link, or sign in with a passkey.');
      }
      throw e;
    });
  },
  /** Shows `e` in `where` (a status line), or as a toast. */
  failed(e, where) {
    console.warn(e);
    if (where) fill(where, e.message || String(e));
  },
  renamed(me) {
    ctx.me = { ...ctx.me, ...me };
    paintWho();
  },
  signOut(message) {
    forget();
    shut(message);
  },
};
ctx.shows = myShows(ctx);
let catalogCache = null;
ctx.catalog = () => {
  if (!catalogCache) {
    catalogCache = listAll('/api/products', { token })
      .catch((e) => { catalogCache = null; throw e; });
  }
  return catalogCache;
};
ctx.catalogChanged = () => { catalogCache = null; };
ctx.ask = confirmDialog();

function paintWho() {
  const name = ctx.me && ctx.me.name;
  fill($('#dash-who'), name ? `Signed in as ${name}` : 'Signed in');
  fill($('#dash-h'), name || 'Your dashboard');
}

const sections = {};

/** The section (and show) the address names. */
function route() {
  const [tab, id] = location.hash.replace(/^#/, '').split('/');
  return { tab: TABS.includes(tab) ? tab : 'shows', id: id ? decodeURIComponent(id) : null };
}

let shown = null;
async function go({ focus = false } = {}) {
  const { tab, id } = route();
  for (const t of TABS) {
    $(`#tab-${t}`).hidden = t !== tab;
    const link = $(`.dash-nav a[data-tab="${t}"]`);
    if (t === tab) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.body.dataset.tab = tab;
  const changed = shown !== tab;
  shown = tab;
  const s = sections[tab];
  window.livesale.busy = (window.livesale.busy || 0) + 1;
  try {
    if (tab === 'shows') await s.enter(id, { focus: focus && changed && !id });
    else if (tab === 'orders') await s.enter({ focus: focus && changed, show: id || undefined });
    else await s.enter({ focus: focus && changed });
  } finally {
    window.livesale.busy -= 1;
    window.livesale.loads = (window.livesale.loads || 0) + 1;
  }
}

async function start() {
  window.livesale = { ready: false, page: 'dashboard', signedIn: false, busy: 0, loads: 0 };
  if (!token) {
    shut('You are not signed in on this device. Open the sign-in link you were given, or sign in with a passkey.');
    window.livesale.ready = true;
    return;
  }
  try {
    ctx.me = await api('GET', '/api/me', { token });
  } catch (e) {
    if (e.status === 401) {
      forget();
      shut('Your sign-in is no longer valid (you may have signed out everywhere). Open a new sign-in link, or sign in with a passkey.');
    } else {
      shut(`The dashboard could not start: ${e.message}`);
      $('#gate-actions').hidden = true;
    }
    window.livesale.ready = true;
    return;
  }
  if (ctx.me.role !== 'creator') {
    shut('This sign-in is not a creator’s: the dashboard is for creators. Open your creator sign-in link.');
    window.livesale.ready = true;
    return;
  }
  gate.hidden = true;
  app.hidden = false;
  document.body.dataset.signedIn = 'true';
  window.livesale.signedIn = true;
  window.livesale.creatorId = ctx.me.creator_id;
  paintWho();
  sections.shows = showsSection(ctx);
  sections.catalog = catalogSection(ctx);
  sections.orders = ordersSection(ctx);
  sections.settings = settingsSection(ctx);
  addEventListener('hashchange', () => go({ focus: true }));
  for (const a of $$('.dash-nav a')) {
    // The same link again (e.g. back to the list from a show's panel) still goes there.
    a.addEventListener('click', (e) => {
      if (location.hash === a.getAttribute('href')) {
        e.preventDefault();
        go({ focus: true });
      }
    });
  }
  window.livesale.ready = true;
  await go();
}

start();
