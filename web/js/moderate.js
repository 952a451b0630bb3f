// The moderator desk, /moderate/{show}: the live chat with one-tap delete, timeout and ban; the
// held-for-review queue; slow mode, pause, link policy and blocked terms; the moderators-only
// channel; the audit log.
//
// The desk listens on the live room (docs/protocol.md) with the moderator's (or the creator's)
// token and sends its commands over HTTP (`POST /api/shows/{id}/moderation`, the same JSON as the
// WebSocket's mod.* frames). Each HTTP answer belongs to the button that sent it, so a refusal
// (an invalid term, a viewer who is not in the show…) is shown right next to that button.

import { api, ApiError, tokenFromLink, store } from './api.js';
import { h, fill, $, toast, busy, showError, timeOf } from './dom.js';
import { LiveRoom } from './live.js';
import { ChatList, chatErrorText } from './chat.js';

const desk = $('#desk');
const showId = desk.dataset.showId;
const token = tokenFromLink(`moderate:${showId}`);

const state = {
  role: null,
  you: null,
  mode: { slow_mode_s: 0, paused: false, links: 'plain' },
  terms: [],
  held: new Map(), // message id → li
  audit: new Map(), // entry id → entry
  pinned: null,
  gated: false,
};

// ---- people and messages we have seen, so the audit log can say "Dana", not an id ------------

const NAMES_KEY = `moderate-names:${showId}`;
const names = new Map(Object.entries(store.json(NAMES_KEY) || {}));
const messages = new Map(); // message id → {name, text}
let namesDirty = false;

function remember(m) {
  if (!m || !m.author) return;
  if (m.author.id && m.author.name && names.get(m.author.id) !== m.author.name) {
    names.set(m.author.id, m.author.name);
    while (names.size > 500) names.delete(names.keys().next().value);
    if (!namesDirty) {
      namesDirty = true;
      setTimeout(() => {
        namesDirty = false;
        store.set(NAMES_KEY, JSON.stringify(Object.fromEntries(names)));
      }, 500);
    }
  }
  if (m.id) {
    messages.set(m.id, { name: m.author.name, text: m.text, authorId: m.author.id });
    while (messages.size > 1000) messages.delete(messages.keys().next().value);
  }
}

const nameOf = (id) => (id && names.get(id)) || null;

// ---- commands over HTTP, refusals in words --------------------------------------------------

const FRIENDLY = {
  invalid_term: (d) => `That term cannot be blocked: ${d}.`,
  too_many_terms: (d) => `The list of blocked terms is full (${d}). Remove some first.`,
  invalid_duration: () => 'Pick a length between 10 seconds and 24 hours.',
  invalid_reason: () => 'The reason is too long: 200 characters at most.',
  viewer_not_found: () => 'That person is not a viewer of this show. The host and moderators cannot be timed out or banned.',
  forbidden_role: () => 'Your role is not allowed to do that.',
  not_held: () => 'Another moderator already reviewed that message.',
  message_not_found: () => 'That message is no longer in the recent chat.',
  show_not_found: () => 'This show no longer exists.',
  rate_limited: () => 'Too many actions at once. Wait a moment and try again.',
};

class CommandError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Sends one mod.* command; resolves on success, throws a CommandError in words otherwise. */
async function command(body) {
  try {
    return await api('POST', `/api/shows/${showId}/moderation`, { token, body });
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status === 401) {
      gate('Your invite is no longer valid. Ask the host for a new moderator link.', true);
      throw new CommandError('Your invite is no longer valid.', e.code);
    }
    const detail = (e.problem && e.problem.detail) || '';
    const friendly = FRIENDLY[e.code];
    if (friendly) throw new CommandError(friendly(detail), e.code);
    if (['message_too_long', 'empty_message', 'forbidden_characters'].includes(e.code)) {
      throw new CommandError(chatErrorText({ code: e.code, message: detail }), e.code);
    }
    throw new CommandError(e.message, e.code);
  }
}

function clearError(where) {
  if (!where) return;
  where.hidden = true;
  where.replaceChildren();
}

/** Runs `fn` for `control` (disabled meanwhile); a failure is shown in `where`. true on success. */
async function act(control, where, fn) {
  clearError(where);
  const ok = await busy(control, async () => { await fn(); return true; }, where);
  return ok === true;
}

// ---- the gate: no token, a bad token, the wrong role -----------------------------------------

function gate(text, forgetToken = false) {
  if (state.gated) return;
  state.gated = true;
  // A token the server refused is of no use on the next visit either.
  if (forgetToken) store.set(`moderate:${showId}`, null);
  fill($('#desk-gate-text'), text);
  $('#desk-gate').hidden = false;
  $('#desk-cols').setAttribute('inert', '');
  $('#desk-cols').classList.add('gated');
  room.close();
  document.body.dataset.conn = 'closed';
  $('#conn-status').hidden = true;
  $('#desk-gate').focus?.();
}

// ---- the live chat ---------------------------------------------------------------------------

function smallButton(cls, label, aria, onclick) {
  return h('button', { type: 'button', class: `small ${cls}`, 'aria-label': aria, onclick }, label);
}

/** An error line inside a chat message's row, next to its buttons. */
function rowError(li) {
  let el = li.querySelector('.row-error');
  if (!el) {
    el = h('span', { class: 'row-error error-text', hidden: true });
    li.appendChild(el);
  }
  return el;
}

function messageActions(m) {
  const who = (m.author && m.author.name) || 'someone';
  const isViewer = (m.role || 'viewer') === 'viewer';
  const row = (ev) => ev.currentTarget.closest('li');
  const out = [
    smallButton('mod-delete', 'Delete', `Delete the message from ${who}`, (ev) => {
      const li = row(ev);
      act(ev.currentTarget, rowError(li), async () => {
        await command({ type: 'mod.delete', message_id: m.id });
        chat.remove(m.id);
      });
    }),
  ];
  if (isViewer && m.author && m.author.id) {
    out.push(
      smallButton('mod-timeout', 'Timeout', `Time out ${who}`, (ev) => timeoutDialog(m.author, ev.currentTarget)),
      smallButton('mod-ban', 'Ban', `Ban ${who}`, (ev) => banDialog(m.author, ev.currentTarget)),
    );
  }
  out.push(smallButton('mod-pin', 'Pin', `Pin the message from ${who} above the chat`, (ev) => {
    const li = row(ev);
    act(ev.currentTarget, rowError(li), () => command({ type: 'mod.pin', message_id: m.id }));
  }));
  return out;
}

const chat = new ChatList($('#chat-list'), { actions: messageActions, max: 300, empty: 'No messages yet. They appear here as viewers write.' });

$('#chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = $('#chat-input');
  const text = input.value.trim();
  clearError($('#chat-form-error'));
  if (!text) {
    showError(new Error('Type a message first.'), $('#chat-form-error'));
    return;
  }
  state.chatSentAt = Date.now();
  room.send({ type: 'chat.send', text });
  input.value = '';
});

$('#clear-chat').addEventListener('click', (ev) => {
  openDialog({
    opener: ev.currentTarget,
    title: 'Clear the chat for everyone?',
    body: ['Every message disappears from every viewer’s screen. This cannot be undone.'],
    reason: false,
    buttons: [{
      label: 'Clear chat', cls: 'danger-solid', id: 'confirm-clear', primary: true,
      run: async () => {
        await command({ type: 'mod.clear' });
        toast('The chat was cleared.', 'success');
      },
    }],
  });
});

// ---- pinned message --------------------------------------------------------------------------

function showPinned(m) {
  state.pinned = m || null;
  const box = $('#pinned');
  if (!m) {
    box.hidden = true;
    return;
  }
  fill($('#pinned-body'),
    h('bdi', { class: 'who', dir: 'auto' }, (m.author && m.author.name) || 'Someone'), ' ',
    h('span', { class: 'text', dir: 'auto' }, m.text));
  box.hidden = false;
}

$('#unpin').addEventListener('click', (ev) => {
  act(ev.currentTarget, $('#chat-error'), () => command({ type: 'mod.unpin' }));
});

// ---- the action dialog (timeout, ban, clear) ------------------------------------------------

const dialog = $('#action-dialog');
let dialogOpener = null;

/**
 * Opens the one action dialog: a title, some body nodes, an optional reason field and buttons
 * whose `run(reason)` does the action. A failure stays in the dialog, next to the buttons;
 * success closes it.
 */
function openDialog({ opener, title, body = [], reason = true, buttons }) {
  dialogOpener = opener || document.activeElement;
  fill($('#action-title'), ...[].concat(title));
  fill($('#action-body'), ...body);
  $('#action-reason-field').hidden = !reason;
  $('#action-reason').value = '';
  const err = $('#action-error');
  clearError(err);
  const wrap = $('#action-buttons');
  wrap.replaceChildren();
  let primary = null;
  for (const b of buttons) {
    const btn = h('button', { type: 'button', class: b.cls || '', id: b.id, dataset: b.dataset }, b.label);
    btn.addEventListener('click', async () => {
      const why = reason ? $('#action-reason').value.trim() : '';
      const ok = await act(btn, err, () => b.run(why || undefined));
      if (ok) closeDialog();
    });
    if (b.primary) primary = btn;
    wrap.appendChild(btn);
  }
  wrap.appendChild(h('button', { type: 'button', class: 'dialog-cancel', onclick: closeDialog }, 'Cancel'));
  dialog.dataset.primary = primary ? '1' : '';
  dialog._primary = primary;
  if (!dialog.open) dialog.showModal();
  (reason ? $('#action-reason') : (primary || wrap.firstElementChild)).focus();
}

function closeDialog() {
  if (dialog.open) dialog.close();
}

dialog.addEventListener('close', () => {
  if (dialogOpener && dialogOpener.isConnected) dialogOpener.focus();
  dialogOpener = null;
});

$('#action-form').addEventListener('submit', (ev) => {
  // Enter in the reason field: the dialog's main button, if it has one.
  ev.preventDefault();
  if (dialog._primary) dialog._primary.click();
});

const TIMEOUTS = [[60, '1 min'], [600, '10 min'], [3600, '1 hour'], [86400, '24 hours']];

function timeoutDialog(author, opener) {
  const who = author.name || 'this viewer';
  openDialog({
    opener,
    title: ['Time out ', h('bdi', { dir: 'auto' }, who)],
    body: [h('p', { class: 'muted' }, 'They keep watching but cannot chat until the time is up. Pick how long:')],
    buttons: TIMEOUTS.map(([seconds, label], i) => ({
      label,
      cls: `timeout-choice${i === 1 ? ' primary' : ''}`,
      dataset: { seconds: String(seconds) },
      primary: i === 1,
      run: async (reason) => {
        await command({ type: 'mod.timeout', viewer_id: author.id, seconds, reason });
        toast(`${who} is timed out for ${label}.`, 'success');
      },
    })),
  });
}

function banDialog(author, opener) {
  const who = author.name || 'this viewer';
  const body = [h('p', {}, 'They are removed from the show and cannot watch, chat or join it again. You can lift the ban later from “Banned in this show”.')];
  let everywhere = null;
  if (state.role === 'creator') {
    everywhere = h('input', { type: 'checkbox', id: 'ban-everywhere' });
    body.push(h('div', { class: 'check' }, everywhere, h('label', { for: 'ban-everywhere' }, 'Ban them from all my shows')));
  }
  openDialog({
    opener,
    title: ['Ban ', h('bdi', { dir: 'auto' }, who), '?'],
    body,
    buttons: [{
      label: 'Ban', cls: 'danger-solid', id: 'confirm-ban', primary: true,
      run: async (reason) => {
        const scope = everywhere && everywhere.checked ? 'creator' : undefined;
        await command({ type: 'mod.ban', viewer_id: author.id, reason, scope });
        toast(`${who} is banned.`, 'success');
      },
    }],
  });
}

// ---- held for review ------------------------------------------------------------------------

const HOLD_REASON = { blocked_term: 'Blocked term', link: 'Link' };

function addHeld(message, reason) {
  if (!message || state.held.has(message.id)) return;
  remember(message);
  const err = h('p', { class: 'row-error error-text', hidden: true });
  const who = (message.author && message.author.name) || 'Someone';
  const li = h('li', { class: 'held', dataset: { id: message.id, author: (message.author && message.author.id) || '' } },
    h('div', { class: 'held-head' },
      h('span', { class: 'badge badge-hold' }, HOLD_REASON[reason] || 'Held'),
      h('bdi', { class: 'who', dir: 'auto' }, who),
      message.at ? h('time', { class: 'at muted', datetime: message.at }, timeOf(message.at)) : null),
    h('p', { class: 'text', dir: 'auto' }, message.text),
    h('div', { class: 'held-actions' },
      h('button', {
        type: 'button', class: 'approve small primary', 'aria-label': `Approve the message from ${who}`,
        onclick: (ev) => review(ev.currentTarget, err, message.id, true),
      }, 'Approve'),
      h('button', {
        type: 'button', class: 'reject small', 'aria-label': `Reject the message from ${who}`,
        onclick: (ev) => review(ev.currentTarget, err, message.id, false),
      }, 'Reject')),
    err);
  state.held.set(message.id, li);
  $('#held-list').appendChild(li);
  heldChanged();
}

async function review(button, err, id, approve) {
  const ok = await act(button, err, async () => {
    try {
      await command({ type: approve ? 'mod.approve' : 'mod.reject', message_id: id });
    } catch (e) {
      if (e.code === 'not_held') {
        removeHeld(id);
        showError(e, $('#held-error'));
        return;
      }
      throw e;
    }
  });
  if (ok) removeHeld(id);
}

function removeHeld(id) {
  const li = state.held.get(id);
  if (!li) return;
  state.held.delete(id);
  const next = li.nextElementSibling || li.previousElementSibling;
  const hadFocus = li.contains(document.activeElement);
  li.remove();
  heldChanged();
  if (hadFocus) (next ? next.querySelector('button') : $('#held-h')).focus?.();
}

function heldChanged() {
  const n = state.held.size;
  $('#held-count').textContent = String(n);
  $('#held-empty').hidden = n > 0;
  $('#held-list').hidden = n === 0;
}

// ---- chat settings --------------------------------------------------------------------------

function applyMode(mode) {
  if (!mode) return;
  state.mode = { ...state.mode, ...mode };
  const slow = $('#slow-mode');
  const value = String(state.mode.slow_mode_s || 0);
  if (![...slow.options].some((o) => o.value === value)) {
    slow.appendChild(h('option', { value }, `${value} seconds`));
  }
  slow.value = value;
  $('#links-policy').value = state.mode.links || 'plain';
  const pause = $('#pause-chat');
  pause.setAttribute('aria-pressed', state.mode.paused ? 'true' : 'false');
  pause.textContent = state.mode.paused ? 'Resume chat' : 'Pause chat';
  pause.classList.toggle('is-paused', !!state.mode.paused);
  desk.dataset.paused = state.mode.paused ? 'true' : 'false';
  desk.dataset.slowMode = String(state.mode.slow_mode_s || 0);
}

$('#slow-mode').addEventListener('change', async (ev) => {
  const select = ev.currentTarget;
  const seconds = Number(select.value);
  const ok = await act(select, $('#settings-error'), () => command({ type: 'mod.slow', seconds }));
  if (ok) state.mode.slow_mode_s = seconds;
  applyMode(state.mode);
});

$('#links-policy').addEventListener('change', async (ev) => {
  const select = ev.currentTarget;
  const policy = select.value;
  const ok = await act(select, $('#settings-error'), () => command({ type: 'mod.links', policy }));
  if (ok) state.mode.links = policy;
  applyMode(state.mode);
});

$('#pause-chat').addEventListener('click', async (ev) => {
  const paused = !state.mode.paused;
  const ok = await act(ev.currentTarget, $('#settings-error'), () => command({ type: 'mod.pause', paused }));
  if (ok) state.mode.paused = paused;
  applyMode(state.mode);
});

// ---- blocked terms --------------------------------------------------------------------------

function renderTerms(terms) {
  state.terms = [...terms].sort((a, b) => a.localeCompare(b));
  const ul = $('#terms-list');
  ul.replaceChildren(...state.terms.map((term) => h('li', { dataset: { term } },
    h('bdi', { class: 'term', dir: 'auto' }, term),
    h('button', {
      type: 'button', class: 'term-remove small', 'aria-label': `Unblock “${term}”`,
      onclick: (ev) => act(ev.currentTarget, $('#terms-error'), () => command({ type: 'mod.terms', add: [], remove: [term] })),
    }, '×'))));
  $('#terms-empty').hidden = state.terms.length > 0;
}

$('#terms-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('#term-input');
  const err = $('#terms-error');
  const add = input.value.split(',').map((t) => t.trim()).filter(Boolean);
  input.removeAttribute('aria-invalid');
  if (!add.length) {
    clearError(err);
    showError(new Error('Type a word or phrase to block.'), err);
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return;
  }
  const ok = await act($('#term-add'), err, () => command({ type: 'mod.terms', add, remove: [] }));
  if (ok) {
    input.value = '';
    renderTerms([...new Set([...state.terms, ...add])]);
  } else {
    input.setAttribute('aria-invalid', 'true');
  }
  input.focus();
});

// ---- moderators-only channel ----------------------------------------------------------------

const modChat = new ChatList($('#mod-chat-list'), { max: 200, empty: 'Only the host and moderators see this channel.' });

$('#mod-chat-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('#mod-chat-input');
  const err = $('#mod-chat-error');
  const text = input.value.trim();
  if (!text) {
    clearError(err);
    showError(new Error('Type a message first.'), err);
    return;
  }
  const ok = await act($('#mod-chat-send'), err, () => command({ type: 'mod.chat', text }));
  if (ok) input.value = '';
  input.focus();
});

// ---- audit log ------------------------------------------------------------------------------

function duration(s) {
  if (s >= 86400 && s % 86400 === 0) return s === 86400 ? '24 hours' : `${s / 86400} days`;
  if (s >= 3600 && s % 3600 === 0) return s === 3600 ? '1 hour' : `${s / 3600} hours`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

const who = (text) => h('bdi', { class: 'who', dir: 'auto' }, text);
const quoted = (text) => ['“', h('bdi', { dir: 'auto' }, text), '”'];

function targetName(id) {
  const n = nameOf(id);
  return n ? who(n) : 'a viewer';
}

function messageRef(id) {
  const m = messages.get(id);
  if (!m) return 'a message';
  const text = m.text.length > 60 ? `${m.text.slice(0, 57)}…` : m.text;
  return [who(m.name || 'someone'), '’s message ', ...quoted(text)];
}

/** An audit entry as a sentence: "Sam timed out Dana for 10 min: spam". */
function sentence(e) {
  const d = e.details || {};
  const actor = who((e.actor && e.actor.name) || 'Someone');
  const you = state.you && e.actor && e.actor.id === state.you.id ? h('span', { class: 'muted' }, ' (you)') : null;
  let what;
  switch (e.action) {
    case 'mod.delete': what = [' deleted ', messageRef(e.target)]; break;
    case 'mod.timeout': what = [' timed out ', targetName(e.target), ` for ${duration(Number(d.seconds) || 0)}`]; break;
    case 'mod.ban': what = [' banned ', targetName(e.target), d.scope === 'creator' ? ' from all shows' : '']; break;
    case 'mod.unban': what = [' lifted the ban on ', targetName(e.target)]; break;
    case 'mod.slow': what = d.seconds ? [` set slow mode to ${duration(Number(d.seconds))}`] : [' turned slow mode off']; break;
    case 'mod.pause': what = [d.paused ? ' paused the chat' : ' resumed the chat']; break;
    case 'mod.links': what = [d.links === 'hold' ? ' set viewers’ links to be held for review' : ' let viewers’ links through as plain text']; break;
    case 'mod.terms': {
      const list = (xs) => xs.flatMap((t, i) => [i ? ', ' : '', ...quoted(t)]);
      const add = d.add || [];
      const remove = d.remove || [];
      what = [];
      if (add.length) what.push(' blocked ', list(add));
      if (add.length && remove.length) what.push(' and');
      if (remove.length) what.push(' unblocked ', list(remove));
      if (!what.length) what.push(' changed the blocked terms');
      break;
    }
    case 'mod.approve': what = [' approved ', messageRef(e.target)]; break;
    case 'mod.reject': what = [' rejected ', messageRef(e.target)]; break;
    case 'mod.clear': what = [' cleared the chat']; break;
    case 'mod.pin': what = [' pinned ', messageRef(e.target)]; break;
    case 'mod.unpin': what = [' unpinned the pinned message']; break;
    case 'invite.revoke': what = [' revoked an invitation']; break;
    default: what = [` did ${e.action}`];
  }
  return [actor, you, ...what, e.reason ? [': ', h('bdi', { class: 'reason', dir: 'auto' }, e.reason)] : ''];
}

function addAudit(entries) {
  for (const e of entries) if (e && e.id) state.audit.set(e.id, e);
  renderAudit();
}

function renderAudit() {
  const all = [...state.audit.values()].sort((a, b) => (a.at === b.at ? (a.id < b.id ? -1 : 1) : (a.at < b.at ? -1 : 1)));
  // Bans standing after the log's last word on each viewer.
  const banned = new Map();
  for (const e of all) {
    if (e.action === 'mod.ban') banned.set(e.target, e);
    else if (e.action === 'mod.unban') banned.delete(e.target);
  }
  const newest = all.slice().reverse().slice(0, 300);
  $('#audit-list').replaceChildren(...newest.map((e) => h('li', { dataset: { id: e.id, action: e.action } },
    h('time', { class: 'at muted', datetime: e.at, title: new Date(e.at).toLocaleString() }, timeOf(e.at)),
    h('span', { class: 'audit-text' }, ...sentence(e)))));
  $('#audit-empty').hidden = all.length > 0;
  renderBanned(banned);
}

function renderBanned(banned) {
  const ul = $('#banned-list');
  ul.replaceChildren(...[...banned.values()].reverse().map((e) => {
    const name = nameOf(e.target);
    const err = h('span', { class: 'row-error error-text', hidden: true });
    return h('li', { dataset: { viewerId: e.target } },
      h('span', { class: 'banned-who' }, name ? who(name) : 'A viewer',
        e.reason ? [h('span', { class: 'muted' }, ': '), h('bdi', { class: 'reason muted', dir: 'auto' }, e.reason)] : null),
      h('button', {
        type: 'button', class: 'unban small', 'aria-label': `Lift the ban on ${name || 'this viewer'}`,
        onclick: (ev) => act(ev.currentTarget, err, async () => {
          await command({ type: 'mod.unban', viewer_id: e.target, scope: (e.details && e.details.scope) || undefined });
          toast(`${name || 'The viewer'} can join again.`, 'success');
        }),
      }, 'Lift ban'),
      err);
  }));
  $('#banned-empty').hidden = banned.size > 0;
}

async function loadAudit() {
  clearError($('#audit-error'));
  try {
    const res = await api('GET', `/api/shows/${showId}/audit`, { token });
    addAudit(res.entries || []);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      gate('Your invite is no longer valid. Ask the host for a new moderator link.', true);
      return;
    }
    if (e instanceof ApiError && e.status === 403) {
      gate('This link does not let you moderate this show.');
      return;
    }
    showError(new Error(`The audit log could not be loaded: ${e.message}`), $('#audit-error'));
  }
}

// ---- the live room --------------------------------------------------------------------------

const room = new LiveRoom(showId, () => token);

const CONN_TEXT = {
  connecting: 'Connecting…',
  reconnecting: 'Connection lost. Reconnecting…',
};

const CLOSED_TEXT = {
  4001: 'Your invite is no longer valid. Ask the host for a new moderator link.',
  4003: 'This invite is for another show, or you cannot join this one.',
  4004: 'This show no longer exists.',
};

room.on('state', ({ state: s, code, message }) => {
  if (state.gated) return;
  document.body.dataset.conn = s;
  const banner = $('#conn-status');
  if (s === 'open') {
    banner.hidden = true;
  } else if (s === 'closed') {
    if (CLOSED_TEXT[code]) {
      gate(CLOSED_TEXT[code], code === 4001);
      return;
    }
    banner.textContent = message || 'Disconnected. Reload the page to reconnect.';
    banner.hidden = false;
  } else {
    banner.textContent = CONN_TEXT[s] || s;
    banner.hidden = s === 'connecting';
  }
});

room.on('welcome', (w) => {
  if (w.role !== 'moderator' && w.role !== 'creator') {
    gate(w.role === 'guest'
      ? 'This desk needs your moderator invite link. Open the link the host sent you.'
      : 'This link is not a moderator invite. Ask the host for a moderator link.');
    return;
  }
  state.role = w.role;
  state.you = w.you || null;
  desk.dataset.role = w.role;
  fill($('#desk-who'), 'You: ', who((w.you && w.you.name) || (w.role === 'creator' ? 'Host' : 'Moderator')),
    w.role === 'creator' ? ' (host)' : ' (moderator)');
  for (const m of w.chat || []) remember(m);
  chat.reset(w.chat || []);
  state.held.clear();
  $('#held-list').replaceChildren();
  for (const item of w.held || []) addHeld(item.message, item.reason);
  heldChanged();
  renderTerms(w.terms || []);
  applyMode(w.chat_mode);
  showPinned(w.pinned_message);
  if (typeof w.viewers === 'number') viewers(w.viewers);
  if (w.show) showStatus(w.show.status);
  if (w.resync) loadAudit();
});

function viewers(n) {
  $('#mod-viewers').textContent = `${n} watching`;
}

function showStatus(status) {
  const el = $('#show-state');
  el.dataset.state = status;
  el.className = `badge badge-${status}`;
  el.textContent = status === 'live' ? 'Live' : status === 'ended' ? 'Ended' : 'Scheduled';
  desk.dataset.status = status;
}

room.on('chat.message', (m) => { remember(m); chat.add(m); });
room.on('chat.deleted', (f) => chat.remove(f.id));
room.on('chat.cleared', () => chat.reset([]));
room.on('chat.mode', (f) => applyMode(f));
room.on('chat.pinned', (f) => showPinned(f.message));
room.on('chat.held', (f) => addHeld(f.message, f.reason));
room.on('chat.resolved', (f) => removeHeld(f.id));
room.on('mod.terms', (f) => renderTerms(f.terms || []));
room.on('mod.message', (m) => { remember(m); modChat.add(m); });
room.on('mod.audit', (f) => addAudit([f.entry]));
room.on('presence', (f) => viewers(f.viewers));
room.on('show.status', (f) => showStatus(f.status));
room.on('mod.notice', (f) => {
  if (state.you && f.to === state.you.id && f.action === 'revoked') {
    gate('Your invite was revoked by the host. Ask them for a new moderator link if this is a mistake.');
  }
});
room.on('error', (f) => {
  // Commands go over HTTP; what arrives here answers this desk's own public chat messages.
  const recentChat = state.chatSentAt && Date.now() - state.chatSentAt < 10000;
  if (recentChat) {
    showError(new Error(chatErrorText(f)), $('#chat-form-error'));
  } else {
    toast(chatErrorText(f), 'error', 6000);
  }
});

// ---- start ----------------------------------------------------------------------------------

heldChanged();
renderTerms([]);
renderAudit();
showStatus(desk.dataset.status);

window.livesale = {
  ready: true,
  page: 'moderate',
  showId,
  room,
  command,
  state,
};

if (!token) {
  gate('This desk needs your moderator invite link. Open the link the host sent you (it ends with #token=…).');
} else {
  document.body.dataset.conn = 'connecting';
  room.connect();
  loadAudit();
}
