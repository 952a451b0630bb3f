// The dashboard's Shows section: the creator's upcoming, live and past shows a page at a time
// (an ended show with its replay's views, watch time and sales, live sales beside them);
// scheduling a new one (the start typed in the browser's time zone, sent with its offset); and
// one show's panel (#shows/<id>): open its studio, its viewer link with a copy button and a QR
// code, edit or cancel it while it is scheduled, invite a moderator or a camera, and the
// products of its lineup (add from the catalog, remove).

import { formatMoney, listAll } from '../api.js';
import { $, $$, h, fill, busy, toast, userText } from '../dom.js';
import {
  copyText, download, fieldProblem, localInputValue, missingRoute, pagedList, rfc3339Local, showQr,
  timeZoneName, webAddress, whenText,
} from './dashutil.js';

/** A show's status as the creator reads it. */
const STATUS = { scheduled: 'Scheduled', live: 'Live', ended: 'Ended', cancelled: 'Cancelled' };
export const statusWords = (s) => (Object.hasOwn(STATUS, s) ? STATUS[s] : String(s || ''));

/** Which listing a show belongs to: `upcoming`, `live` or `past`. */
export function whenOf(show) {
  if (show.status === 'live') return 'live';
  if (show.status === 'scheduled') return 'upcoming';
  return 'past';
}

/** The moment a show's card tells: its start, its going live, or its end. */
function momentOf(show) {
  if (show.status === 'live') return show.started_at || show.scheduled_at;
  if (show.status === 'ended') return show.ended_at || show.scheduled_at;
  return show.scheduled_at;
}

/** Upcoming soonest first; live and past most recent first (as GET /api/me/shows sorts). */
function sortFor(when, shows) {
  const t = (s) => Date.parse(momentOf(s)) || 0;
  return [...shows].sort(when === 'upcoming' ? (a, b) => t(a) - t(b) : (a, b) => t(b) - t(a));
}

/**
 * The creator's own shows, every one (for the lists of the other sections): from
 * `GET /api/me/shows`, or on a server without it from the public listing filtered by creator.
 */
export function myShows(ctx) {
  let cached = null;
  let legacy = false;
  async function load() {
    if (!legacy) {
      try {
        return await listAll('/api/me/shows', { token: ctx.token });
      } catch (e) {
        if (!missingRoute(e)) throw e;
        legacy = true;
      }
    }
    const every = await listAll('/api/shows', { token: ctx.token });
    return every.filter((s) => s.creator_id === ctx.me.creator_id);
  }
  return {
    all() {
      if (!cached) cached = load().catch((e) => { cached = null; throw e; });
      return cached;
    },
    invalidate() { cached = null; },
    /** One page of a listing (`when`), in the shape of GET /api/me/shows. */
    async page(when, cursor) {
      if (!legacy) {
        const q = new URLSearchParams({ when, limit: '20' });
        if (cursor) q.set('cursor', cursor);
        try {
          return await ctx.call('GET', `/api/me/shows?${q}`);
        } catch (e) {
          if (!missingRoute(e)) throw e;
          legacy = true;
        }
      }
      const all = await this.all();
      return { items: sortFor(when, all.filter((s) => whenOf(s) === when)), next_cursor: null };
    },
  };
}

function cover(show, cls) {
  if (show.cover_url) return h('img', { class: cls, src: show.cover_url, alt: '', loading: 'lazy' });
  const letter = (String(show.title || '').match(/[\p{L}\p{N}]/u) || ['★'])[0].toUpperCase();
  const hue = String(show.id).split('').reduce((n, c) => n + c.charCodeAt(0), 0) % 6;
  return h('span', { class: `${cls} cover-initial art-${hue}`, 'aria-hidden': 'true' }, letter);
}

function badge(show) {
  return h('span', { class: `badge show-badge badge-${show.status}`, dataset: { state: show.status } }, statusWords(show.status));
}

/** Watch time as H:MM. */
export const hoursMinutes = (s) => `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;

/** GET …/replay/stats in words: "Replay: N views · H:MM watched · X sold (live Y)" (units). */
export function replayWords(s) {
  const views = `${s.views} ${s.views === 1 ? 'view' : 'views'}`;
  return `Replay: ${views} · ${hoursMinutes(s.watch_time_s)} watched · ${s.replay.units} sold (live ${s.live.units})`;
}

/** An ended show's replay line, filled from its stats; gone if they cannot be read. */
function replayLine(ctx, show) {
  const line = h('span', { class: 'dash-show-replay muted small-text' });
  ctx.call('GET', `/api/shows/${show.id}/replay/stats`)
    .then((s) => fill(line, replayWords(s)))
    .catch(() => line.remove());
  return line;
}

export function showsSection(ctx) {
  const overview = $('#shows-overview');
  const detail = $('#show-detail');
  const newForm = $('#new-show');
  const newOpen = $('#new-show-open');
  const newError = $('#new-show-error');
  let when = 'upcoming';
  let current = null; // the show of the open panel
  let inviteUrl = null;

  const listing = pagedList({
    list: $('#shows-list'),
    more: $('#shows-more'),
    status: $('#shows-status'),
    empty: '',
    render: (show) => h('li', { class: 'dash-show', dataset: { showId: show.id, status: show.status } },
      h('a', { class: 'dash-show-link', href: `#shows/${show.id}` },
        cover(show, 'dash-show-cover'),
        h('span', { class: 'dash-show-text' },
          userText(show.title, 'dash-show-title'),
          h('span', { class: 'dash-show-meta' }, badge(show), ' ',
            h('time', { datetime: momentOf(show) }, whenText(momentOf(show)))),
          show.lineup_count !== undefined
            ? h('span', { class: 'muted small-text' }, `${show.lineup_count} products · ${show.orders_count ?? 0} orders`)
            : null,
          show.status === 'ended' ? replayLine(ctx, show) : null)),
      show.status === 'live' || show.status === 'scheduled'
        ? h('a', { class: 'button small dash-show-studio', href: `/studio/${show.id}`, 'aria-label': `Studio of ${show.title}` }, 'Studio')
        : null),
  });

  const EMPTY = {
    upcoming: 'No upcoming shows. Press “New show” to schedule one.',
    live: 'None of your shows is live right now.',
    past: 'No past shows yet.',
  };

  async function loadList() {
    fill($('#shows-status'), 'Loading…');
    const items = await listing.load((cursor) => ctx.shows.page(when, cursor), true);
    if (!items.length) fill($('#shows-status'), EMPTY[when]);
  }

  for (const b of $$('.segmented [data-when]')) {
    b.addEventListener('click', () => {
      when = b.dataset.when;
      for (const o of $$('.segmented [data-when]')) o.setAttribute('aria-pressed', String(o === b));
      loadList().catch((e) => ctx.failed(e, $('#shows-status')));
    });
  }

  // ---- a new show ----------------------------------------------------------------------------

  function openNew(open) {
    newForm.hidden = !open;
    newOpen.setAttribute('aria-expanded', String(open));
    if (open) {
      fieldProblem(newForm, newError);
      if (!$('#ns-start').value) {
        // Tomorrow at 19:00 local: a sensible first guess the creator changes.
        const d = new Date(Date.now() + 86400000);
        d.setHours(19, 0, 0, 0);
        $('#ns-start').value = localInputValue(d);
      }
      $('#ns-title').focus();
    } else {
      newOpen.focus();
    }
  }
  const zone = timeZoneName();
  fill($('#ns-tz'), zone ? `Your time zone: ${zone}.` : 'In your time zone.');
  newOpen.addEventListener('click', () => openNew(newForm.hidden));
  $('#new-show-cancel').addEventListener('click', () => openNew(false));

  /** The checked fields of a show form, or a problem pointing at its field. */
  function readShow(form, prefix, { clearing }) {
    const title = $(`#${prefix}-title`).value.trim();
    if (!title) return { input: $(`#${prefix}-title`), message: 'Give the show a title.' };
    const at = rfc3339Local($(`#${prefix}-start`).value);
    if (!at) return { input: $(`#${prefix}-start`), message: 'Pick the date and time the show starts.' };
    const coverUrl = $(`#${prefix}-cover`).value.trim();
    if (coverUrl && !webAddress(coverUrl)) {
      return { input: $(`#${prefix}-cover`), message: 'The cover image must be a web address (https://…).' };
    }
    const description = $(`#${prefix}-description`).value.trim();
    const body = { title, scheduled_at: at };
    if (description) body.description = description;
    else if (clearing) body.description = null;
    if (coverUrl) body.cover_url = coverUrl;
    else if (clearing) body.cover_url = null;
    return { body };
  }

  newForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const { body, input, message } = readShow(newForm, 'ns', { clearing: false });
    if (!body) {
      fieldProblem(newForm, newError, input, message);
      return;
    }
    busy($('#new-show-submit'), async () => {
      const show = await ctx.call('POST', '/api/shows', body);
      fieldProblem(newForm, newError);
      newForm.reset();
      newForm.hidden = true;
      newOpen.setAttribute('aria-expanded', 'false');
      ctx.shows.invalidate();
      toast(`“${show.title}” is scheduled for ${whenText(show.scheduled_at)}.`, 'success');
      location.hash = `#shows/${show.id}`;
    }, newError);
  });

  // ---- one show ------------------------------------------------------------------------------

  function paint(show) {
    current = show;
    detail.dataset.showId = show.id;
    detail.dataset.status = show.status;
    fill($('#sd-title'), show.title);
    const state = $('#sd-state');
    state.className = `badge show-badge badge-${show.status}`;
    state.dataset.state = show.status;
    fill(state, statusWords(show.status));
    const at = momentOf(show);
    const time = $('#sd-when');
    time.dateTime = at;
    fill(time, `${show.status === 'ended' ? 'Ended' : show.status === 'live' ? 'Live since' : show.status === 'cancelled' ? 'Was planned for' : 'Starts'} ${whenText(at)}`);
    fill($('#sd-desc'), show.description || '');
    const img = $('#sd-cover');
    if (show.cover_url) {
      img.src = show.cover_url;
      img.hidden = false;
    } else {
      img.hidden = true;
      img.removeAttribute('src');
    }
    const open = show.status === 'scheduled' || show.status === 'live';
    const studio = $('#sd-studio');
    studio.href = `/studio/${show.id}`;
    studio.hidden = !open;
    const viewerUrl = `${location.origin}/s/${show.id}`;
    $('#sd-viewer').href = viewerUrl;
    $('#sd-viewer').dataset.url = viewerUrl;
    fill($('#sd-viewer'), show.status === 'ended' ? 'Replay page' : 'Viewer page');
    $('#sd-recording').hidden = show.status !== 'ended';
    $('#sd-orders').href = `#orders/${show.id}`;
    $('#sd-edit-box').hidden = show.status !== 'scheduled';
    if (show.status === 'scheduled') {
      $('#se-title').value = show.title;
      $('#se-description').value = show.description || '';
      $('#se-start').value = localInputValue(show.scheduled_at);
      $('#se-cover').value = show.cover_url || '';
    }
    $('#sd-invite-submit').disabled = !open;
    $('#sd-lineup-submit').disabled = show.status === 'ended' || show.status === 'cancelled';
  }

  async function loadLineup() {
    const { products } = await ctx.call('GET', `/api/shows/${current.id}/lineup`);
    const list = $('#sd-lineup');
    $('#sd-lineup-empty').hidden = products.length > 0;
    const editable = current.status === 'scheduled' || current.status === 'live';
    fill(list, products.map((p) => h('li', { class: 'sd-lineup-item', dataset: { productId: p.id } },
      p.image_url ? h('img', { class: 'thumb', src: p.image_url, alt: '', loading: 'lazy' }) : null,
      h('span', { class: 'sd-lineup-text' }, userText(p.title, 'sd-lineup-title'),
        h('span', { class: 'muted small-text' }, `${formatMoney(p.price)} · ${p.stock} in stock`)),
      editable ? h('button', {
        type: 'button', class: 'small danger lineup-remove', 'aria-label': `Remove ${p.title} from this show`,
        onclick: (e) => removeFromLineup(p, e.currentTarget),
      }, 'Remove') : null)));
    const inLineup = new Set(products.map((p) => p.id));
    const catalog = await ctx.catalog();
    const select = $('#sd-lineup-product');
    const choices = catalog.filter((p) => !inLineup.has(p.id));
    fill(select, choices.length
      ? choices.map((p) => h('option', { value: p.id }, `${p.title} (${p.sku}) · ${formatMoney(p.price)}`))
      : h('option', { value: '' }, catalog.length ? 'Every product is in this show' : 'Your catalog is empty: import products first'));
    $('#sd-lineup-submit').disabled = !choices.length || !editable;
    return products;
  }

  function removeFromLineup(p, button) {
    busy(button, async () => {
      await ctx.call('DELETE', `/api/shows/${current.id}/lineup/${p.id}`);
      fill($('#sd-lineup-status'), `${p.title} was removed from the show.`);
      await loadLineup();
      $('#sd-lineup-product').focus();
    }, $('#sd-error'));
  }

  // The whole program as one MP4 for the creator's own channels (the route wants the token,
  // so it is fetched and handed to the browser as a download).
  $('#sd-recording').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    const show = current;
    const res = await fetch(`/api/shows/${show.id}/recording.mp4`, {
      headers: { Authorization: `Bearer ${ctx.token}`, Accept: 'video/mp4, application/problem+json' },
    });
    if (!res.ok) {
      let problem = {};
      try { problem = await res.json(); } catch { /* not JSON */ }
      throw new Error(problem.code === 'replay_not_ready'
        ? 'There is no recording of this show (nothing was recorded, it was deleted, or it is still being finished).'
        : problem.detail || `The download failed (${res.status}).`);
    }
    const safe = show.title.replace(/[^\p{L}\p{N} _-]+/gu, '').trim() || 'recording';
    download(await res.blob(), `${safe}.mp4`);
  }, $('#sd-error')));

  $('#sd-lineup-add').addEventListener('submit', (e) => {
    e.preventDefault();
    const id = $('#sd-lineup-product').value;
    if (!id || !current) return;
    const title = $('#sd-lineup-product').selectedOptions[0]?.textContent || '';
    busy($('#sd-lineup-submit'), async () => {
      await ctx.call('POST', `/api/shows/${current.id}/lineup`, { product_id: id });
      ctx.shows.invalidate();
      await loadLineup();
      fill($('#sd-lineup-status'), `Added: ${title}.`);
    }, $('#sd-error'));
  });

  $('#sd-copy-viewer').addEventListener('click', () => {
    if (current) copyText($('#sd-viewer').dataset.url, $('#sd-viewer'));
  });
  $('#sd-qr-toggle').addEventListener('click', async (e) => {
    const box = $('#sd-qr-box');
    const open = box.hidden;
    box.hidden = !open;
    e.currentTarget.setAttribute('aria-expanded', String(open));
    if (open && current) await showQr($('#sd-qr'), $('#sd-viewer').dataset.url, $('#sd-qr-note'));
  });

  $('#sd-invite').addEventListener('submit', (e) => {
    e.preventDefault();
    if (!current) return;
    const role = $('#sd-invite-role').value;
    const label = $('#sd-invite-label').value.trim();
    busy($('#sd-invite-submit'), async () => {
      const body = { role };
      if (label) body.label = label;
      const invite = await ctx.call('POST', `/api/shows/${current.id}/invites`, body);
      inviteUrl = invite.url;
      const who = label || (role === 'camera' ? 'the phone' : 'your moderator');
      fill($('#sd-invite-what'), role === 'camera'
        ? `Open this link on ${who} to use it as a camera:`
        : `Send this link to ${who}: it opens the moderator desk of this show.`);
      const link = $('#sd-invite-link');
      link.href = invite.url;
      link.dataset.role = role;
      fill(link, invite.url);
      $('#sd-invite-result').hidden = false;
      $('#sd-invite-copy').focus();
    }, $('#sd-error'));
  });
  $('#sd-invite-copy').addEventListener('click', () => {
    if (inviteUrl) copyText(inviteUrl, $('#sd-invite-link'));
  });

  const editForm = $('#sd-edit');
  const editError = $('#sd-edit-error');
  editForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!current) return;
    const { body, input, message } = readShow(editForm, 'se', { clearing: true });
    if (!body) {
      fieldProblem(editForm, editError, input, message);
      return;
    }
    // Only what changed: an untouched start keeps its exact instant.
    if (localInputValue(current.scheduled_at) === $('#se-start').value) delete body.scheduled_at;
    if (body.title === current.title) delete body.title;
    if ((body.description ?? null) === (current.description ?? null)) delete body.description;
    if ((body.cover_url ?? null) === (current.cover_url ?? null)) delete body.cover_url;
    if (!Object.keys(body).length) {
      fieldProblem(editForm, editError, null, 'Nothing changed.');
      return;
    }
    busy($('#sd-save'), async () => {
      const show = await ctx.call('PATCH', `/api/shows/${current.id}`, body);
      fieldProblem(editForm, editError);
      ctx.shows.invalidate();
      paint(show);
      toast('Saved.', 'success');
    }, editError);
  });

  $('#sd-cancel-show').addEventListener('click', (e) => {
    if (!current) return;
    const show = current;
    ctx.ask({
      title: 'Cancel this show?',
      body: [h('p', {}, 'Viewers who open ', userText(show.title), ' will see that it was cancelled. It cannot be scheduled again.')],
      ok: 'Cancel the show',
      cancel: 'Keep it',
      danger: true,
      opener: e.currentTarget,
      run: () => ctx.call('POST', `/api/shows/${show.id}/cancel`),
    }).then((cancelled) => {
      if (!cancelled) return;
      ctx.shows.invalidate();
      paint(cancelled);
      toast('The show is cancelled.', 'info');
      $('#sd-title').focus();
    });
  });

  async function openShow(id) {
    overview.hidden = true;
    detail.hidden = false;
    $('#sd-error').hidden = true;
    $('#sd-invite-result').hidden = true;
    $('#sd-qr-box').hidden = true;
    $('#sd-qr-toggle').setAttribute('aria-expanded', 'false');
    fill($('#sd-lineup-status'));
    inviteUrl = null;
    if (!current || current.id !== id) {
      fill($('#sd-title'), 'Loading…');
      fill($('#sd-lineup'));
    }
    const show = await ctx.call('GET', `/api/shows/${encodeURIComponent(id)}`);
    if (show.creator_id !== ctx.me.creator_id) {
      throw new Error('This show belongs to another creator.');
    }
    paint(show);
    $('#sd-title').focus();
    await loadLineup();
  }

  return {
    /** Shows the section: the list, or the panel of show `id`. */
    async enter(id, { focus } = {}) {
      if (id) {
        try {
          await openShow(id);
        } catch (e) {
          ctx.failed(e, $('#sd-error'));
        }
        return;
      }
      const wasDetail = !detail.hidden;
      detail.hidden = true;
      overview.hidden = false;
      if (wasDetail && current) {
        // Back from a show: the list again, with the focus on that show's card when it is there.
        const back = current.id;
        await loadList().catch((e) => ctx.failed(e, $('#shows-status')));
        const card = $(`#shows-list [data-show-id="${CSS.escape(back)}"] a`);
        (card || $('#shows-h')).focus();
        return;
      }
      await loadList().catch((e) => ctx.failed(e, $('#shows-status')));
      if (focus) $('#shows-h').focus();
    },
  };
}
