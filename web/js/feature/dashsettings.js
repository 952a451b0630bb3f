// The dashboard's Settings section: the creator's display name; the order webhook (its URL and
// signing secret, "send a test event", the last deliveries with their outcome); moderators and
// blocked terms for all of the creator's shows; passkeys (added through feature/passkey.js, the
// browser's WebAuthn); and signing out on this device or everywhere. Each part loads on its
// own, so one that fails says so without hiding the others.

import { h, fill, busy, toast, userText, $ } from '../dom.js';
import { copyText, fieldProblem, missingRoute, webAddress, whenText } from './dashutil.js';

const OUTCOME = { delivered: 'Delivered', failed: 'Failed', refused: 'Refused', pending: 'Pending' };

/** Why a part could not load, in words. */
function loadWords(e) {
  if (missingRoute(e)) return 'This server does not offer this yet.';
  return `Could not load: ${e.message}`;
}

export function settingsSection(ctx) {
  // ---- name ------------------------------------------------------------------------------------
  const nameForm = $('#name-form');
  const nameStatus = $('#name-status');
  nameForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('#display-name');
    const name = input.value.trim();
    if (!name) {
      input.setAttribute('aria-invalid', 'true');
      fill(nameStatus, 'Type the name viewers should see.');
      input.focus();
      return;
    }
    input.removeAttribute('aria-invalid');
    busy($('#name-save'), async () => {
      const me = await ctx.call('PATCH', '/api/me', { name });
      ctx.renamed(me);
      fill(nameStatus, 'Saved.');
    }, nameStatus);
  });

  // ---- webhook ---------------------------------------------------------------------------------
  const hookForm = $('#webhook-form');
  const hookStatus = $('#webhook-status');
  const hookError = h('p', { class: 'error-text', role: 'alert', hidden: true });
  hookForm.after(hookError);

  function paintHook(hook) {
    $('#webhook-url').value = hook ? hook.url : '';
    $('#webhook-secret-box').hidden = !hook;
    fill($('#webhook-secret'), hook ? hook.secret : '');
    $('#webhook-test').disabled = !hook;
    $('#webhook-remove').disabled = !hook;
  }

  async function loadHook() {
    try {
      paintHook(await ctx.call('GET', '/api/webhook'));
    } catch (e) {
      if (e.status !== 404 || missingRoute(e)) throw e;
      paintHook(null);
    }
  }

  hookForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('#webhook-url');
    const url = input.value.trim();
    if (!webAddress(url)) {
      fieldProblem(hookForm, hookError, input, 'Type the full address, like https://shop.example/hooks/livesale.');
      return;
    }
    busy($('#webhook-save'), async () => {
      paintHook(await ctx.call('PUT', '/api/webhook', { url }));
      fieldProblem(hookForm, hookError);
      fill(hookStatus, 'Saved. A new signing secret was made: update it where you check signatures.');
    }, hookError);
  });

  $('#webhook-remove').addEventListener('click', (e) => {
    ctx.ask({
      title: 'Remove the webhook?',
      body: ['Order events stop being sent to this address.'],
      ok: 'Remove',
      danger: true,
      opener: e.currentTarget,
      run: async () => { await ctx.call('DELETE', '/api/webhook'); return true; },
    }).then((done) => {
      if (!done) return;
      paintHook(null);
      fill(hookStatus, 'The webhook is removed.');
      $('#webhook-url').focus();
    });
  });

  function deliveryRow(d) {
    const outcome = Object.hasOwn(OUTCOME, d.outcome) ? OUTCOME[d.outcome] : String(d.outcome || '');
    return h('li', { class: 'delivery', dataset: { eventId: d.event_id, outcome: d.outcome, kind: d.kind } },
      h('span', { class: 'delivery-kind' }, d.kind),
      h('span', { class: 'badge delivery-outcome', dataset: { outcome: d.outcome } }, outcome),
      d.http_status ? h('span', { class: 'delivery-http small-text' }, `HTTP ${d.http_status}`) : null,
      h('time', { class: 'muted small-text', datetime: d.at }, whenText(d.at)),
      d.attempts > 1 ? h('span', { class: 'muted small-text' }, `${d.attempts} attempts`) : null,
      d.error ? h('p', { class: 'delivery-error small-text' }, userText(d.error)) : null);
  }

  async function loadDeliveries() {
    const list = $('#deliveries');
    try {
      const { items } = await ctx.call('GET', '/api/webhook/deliveries');
      fill(list, items.length ? items.map(deliveryRow) : h('li', { class: 'muted' }, 'Nothing delivered yet.'));
      return items;
    } catch (e) {
      fill(list, h('li', { class: 'muted' }, loadWords(e)));
      return [];
    }
  }
  $('#deliveries-refresh').addEventListener('click', (e) => busy(e.currentTarget, loadDeliveries));

  $('#webhook-test').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    const { event_id: id } = await ctx.call('POST', '/api/webhook/test');
    fill(hookStatus, 'A test event is on its way…');
    // Its delivery shows up in the list within a few seconds; look a few times.
    for (let i = 0; i < 10; i += 1) {
      const items = await loadDeliveries();
      const mine = items.find((d) => d.event_id === id);
      if (mine && mine.outcome !== 'pending') {
        fill(hookStatus, `The test event: ${(OUTCOME[mine.outcome] || mine.outcome).toLowerCase()}${mine.http_status ? ` (HTTP ${mine.http_status})` : ''}.`);
        return;
      }
      await new Promise((r) => { setTimeout(r, 1000); });
    }
    fill(hookStatus, 'The test event is queued; press Refresh to see how it went.');
  }, hookStatus));

  // ---- moderators -------------------------------------------------------------------------------
  let modUrl = null;

  async function loadMods() {
    const list = $('#mods-list');
    try {
      const { items } = await ctx.call('GET', '/api/me/moderators');
      fill(list, items.length ? items.map((m) => h('li', { class: 'plain-item', dataset: { moderatorId: m.id } },
        h('span', { class: 'grow' }, userText(m.label, 'mod-label'), ' ',
          h('span', { class: 'muted small-text' }, `since ${whenText(m.created_at)}`)),
        h('button', {
          type: 'button', class: 'small danger mod-remove', 'aria-label': `Remove moderator ${m.label}`,
          onclick: (e) => removeMod(m, e.currentTarget),
        }, 'Remove'))) : h('li', { class: 'muted' }, 'No moderators for all shows yet.'));
    } catch (e) {
      fill(list, h('li', { class: 'muted' }, loadWords(e)));
    }
  }

  function removeMod(m, opener) {
    ctx.ask({
      title: `Remove ${m.label}?`,
      body: ['Their link stops working in every show at once.'],
      ok: 'Remove',
      danger: true,
      opener,
      run: async () => { await ctx.call('DELETE', `/api/me/moderators/${encodeURIComponent(m.id)}`); return true; },
    }).then(async (done) => {
      if (!done) return;
      toast(`${m.label} is no longer a moderator.`, 'info');
      await loadMods();
      $('#mod-label').focus();
    });
  }

  $('#mod-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const label = $('#mod-label').value.trim();
    if (!label) {
      $('#mod-label').focus();
      return;
    }
    busy($('#mod-add'), async () => {
      const mod = await ctx.call('POST', '/api/me/moderators', { label });
      const shows = await ctx.shows.all().catch(() => []);
      const live = shows.find((s) => s.status === 'live');
      const next = shows.filter((s) => s.status === 'scheduled')
        .sort((a, b) => Date.parse(a.scheduled_at) - Date.parse(b.scheduled_at))[0];
      const show = live || next;
      const link = $('#mod-new-link');
      if (show) {
        modUrl = `${location.origin}/moderate/${show.id}#token=${encodeURIComponent(mod.token)}`;
        fill($('#mod-new-what'), h('span', {}, 'Send this link to ', userText(mod.label),
          '. It opens the desk of ', userText(show.title), '; the same token works for your other shows (change the show in the address).'));
      } else {
        modUrl = mod.token;
        fill($('#mod-new-what'), 'Their moderator token (schedule a show to get a desk link):');
      }
      link.href = show ? modUrl : '#';
      fill(link, modUrl);
      $('#mod-new').hidden = false;
      $('#mod-form').reset();
      await loadMods();
      $('#mod-new-copy').focus();
    }, $('#mod-new-what'));
  });
  $('#mod-new-copy').addEventListener('click', () => {
    if (modUrl) copyText(modUrl, $('#mod-new-link'));
  });

  // ---- blocked terms ---------------------------------------------------------------------------
  const termsStatus = $('#terms-status');
  async function loadTerms() {
    try {
      const { terms } = await ctx.call('GET', '/api/me/terms');
      $('#terms').value = terms.join('\n');
    } catch (e) {
      fill(termsStatus, loadWords(e));
    }
  }
  $('#terms-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const terms = [...new Set($('#terms').value.split('\n').map((t) => t.trim()).filter(Boolean))];
    busy($('#terms-save'), async () => {
      const saved = await ctx.call('PUT', '/api/me/terms', { terms });
      $('#terms').value = (saved && saved.terms ? saved.terms : terms).join('\n');
      fill(termsStatus, terms.length ? `Saved: ${terms.length} blocked ${terms.length === 1 ? 'term' : 'terms'} in all your shows.` : 'Saved: no blocked terms.');
    }, termsStatus);
  });

  // ---- passkeys --------------------------------------------------------------------------------
  const passkeyStatus = $('#passkey-status');
  async function loadPasskeys() {
    const list = $('#passkeys');
    try {
      const { items } = await ctx.call('GET', '/api/me/passkeys');
      fill(list, items.length ? items.map((k) => h('li', { class: 'plain-item', dataset: { passkeyId: k.id } },
        h('span', { class: 'grow' }, userText(k.label || 'Passkey', 'passkey-label'), ' ',
          h('span', { class: 'muted small-text' }, k.last_used_at ? `last used ${whenText(k.last_used_at)}` : `added ${whenText(k.created_at)}`)),
        h('button', {
          type: 'button', class: 'small danger passkey-remove', 'aria-label': `Remove passkey ${k.label || ''}`.trim(),
          onclick: (e) => removePasskey(k, e.currentTarget),
        }, 'Remove'))) : h('li', { class: 'muted' }, 'No passkeys yet.'));
    } catch (e) {
      fill(list, h('li', { class: 'muted' }, loadWords(e)));
    }
  }

  function removePasskey(k, opener) {
    ctx.ask({
      title: 'Remove this passkey?',
      body: ['It can no longer sign you in.'],
      ok: 'Remove',
      danger: true,
      opener,
      run: async () => { await ctx.call('DELETE', `/api/me/passkeys/${encodeURIComponent(k.id)}`); return true; },
    }).then(async (done) => {
      if (!done) return;
      fill(passkeyStatus, 'The passkey is removed.');
      await loadPasskeys();
    });
  }

  $('#passkey-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const label = $('#passkey-label').value.trim() || 'Passkey';
    busy($('#passkey-add'), async () => {
      if (!window.PublicKeyCredential) {
        throw new Error('This browser cannot make passkeys.');
      }
      fill(passkeyStatus, 'Follow your browser’s prompt…');
      let registerPasskey;
      try {
        ({ registerPasskey } = await import('./passkey.js'));
      } catch {
        throw new Error('Passkeys are not available on this server yet.');
      }
      await registerPasskey({ token: ctx.token, label });
      fill(passkeyStatus, `Passkey “${label}” added: you can sign in with it on this device.`);
      await loadPasskeys();
    }, passkeyStatus);
  });

  // ---- signing out -----------------------------------------------------------------------------
  $('#signout-here').addEventListener('click', () => ctx.signOut('You are signed out on this device.'));
  $('#signout-everywhere').addEventListener('click', (e) => {
    ctx.ask({
      title: 'Sign out everywhere?',
      body: ['Every phone and computer signed in as you is signed out, this one too. To come back you need a new sign-in link from the operator, or a passkey.'],
      ok: 'Sign out everywhere',
      danger: true,
      opener: e.currentTarget,
      run: async () => { await ctx.call('POST', '/api/me/signout'); return true; },
    }).then((done) => {
      if (done) ctx.signOut('You are signed out everywhere. Older sign-in links no longer work.');
    });
  });

  let loaded = false;
  return {
    async enter({ focus } = {}) {
      $('#display-name').value = ctx.me.name || '';
      if (focus) $('#settings-h').focus();
      if (loaded) {
        await loadDeliveries();
        return;
      }
      loaded = true;
      await Promise.all([
        loadHook().catch((e) => fill(hookStatus, loadWords(e))),
        loadDeliveries(), loadMods(), loadTerms(), loadPasskeys(),
      ]);
    },
  };
}
