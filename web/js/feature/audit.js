// The moderator desk's audit log and the bans standing in this show. Entries are told as
// sentences ("Sam timed out Dana for 10 min: spam"), with the names and messages this desk has
// seen (kept per show in localStorage), so the log says "Dana", not an id.

import { api, ApiError, store } from '../api.js';
import { $, h, showError, toast, timeOf } from '../dom.js';
import { AuditAction, Command } from '../protocol.js';
import { act, clearError } from './commands.js';
import { DESK_INVALID_INVITE } from './errors.js';

const MAX_NAMES = 500;
const MAX_MESSAGES = 1000;
const MAX_ENTRIES = 300;

/** "10 min", "1 hour", "2 days", "45 s". */
function duration(s) {
  if (s >= 86400 && s % 86400 === 0) return s === 86400 ? '24 hours' : `${s / 86400} days`;
  if (s >= 3600 && s % 3600 === 0) return s === 3600 ? '1 hour' : `${s / 3600} hours`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

const who = (text) => h('bdi', { class: 'who', dir: 'auto' }, text);
const quoted = (text) => ['“', h('bdi', { dir: 'auto' }, text), '”'];

/** People and messages seen on the desk, by id. Returns `{remember, nameOf, messageOf}`. */
function seen(showId) {
  const key = `moderate-names:${showId}`;
  const names = new Map(Object.entries(store.json(key) || {}));
  const messages = new Map(); // message id → {name, text, authorId}
  let dirty = false;
  function remember(m) {
    if (!m || !m.author) return;
    if (m.author.id && m.author.name && names.get(m.author.id) !== m.author.name) {
      names.set(m.author.id, m.author.name);
      while (names.size > MAX_NAMES) names.delete(names.keys().next().value);
      if (!dirty) {
        dirty = true;
        setTimeout(() => {
          dirty = false;
          store.set(key, JSON.stringify(Object.fromEntries(names)));
        }, 500);
      }
    }
    if (m.id) {
      messages.set(m.id, { name: m.author.name, text: m.text, authorId: m.author.id });
      while (messages.size > MAX_MESSAGES) messages.delete(messages.keys().next().value);
    }
  }
  return { remember, nameOf: (id) => (id && names.get(id)) || null, messageOf: (id) => messages.get(id) };
}

/** What an entry did, after the actor's name. */
function deed(e, targetName, messageRef) {
  const d = e.details || {};
  switch (e.action) {
    case Command.MOD_DELETE: return [' deleted ', messageRef(e.target)];
    case Command.MOD_TIMEOUT: return [' timed out ', targetName(e.target), ` for ${duration(Number(d.seconds) || 0)}`];
    case Command.MOD_BAN: return [' banned ', targetName(e.target), d.scope === 'creator' ? ' from all shows' : ''];
    case Command.MOD_UNBAN: return [' lifted the ban on ', targetName(e.target)];
    case Command.MOD_SLOW: return d.seconds ? [` set slow mode to ${duration(Number(d.seconds))}`] : [' turned slow mode off'];
    case Command.MOD_PAUSE: return [d.paused ? ' paused the chat' : ' resumed the chat'];
    case Command.MOD_LINKS: return [d.links === 'hold' ? ' set viewers’ links to be held for review' : ' let viewers’ links through as plain text'];
    case Command.MOD_TERMS: {
      const list = (xs) => xs.flatMap((t, i) => [i ? ', ' : '', ...quoted(t)]);
      const add = d.add || [];
      const remove = d.remove || [];
      const what = [];
      if (add.length) what.push(' blocked ', list(add));
      if (add.length && remove.length) what.push(' and');
      if (remove.length) what.push(' unblocked ', list(remove));
      if (!what.length) what.push(' changed the blocked terms');
      return what;
    }
    case Command.MOD_APPROVE: return [' approved ', messageRef(e.target)];
    case Command.MOD_REJECT: return [' rejected ', messageRef(e.target)];
    case Command.MOD_CLEAR: return [' cleared the chat'];
    case Command.MOD_PIN: return [' pinned ', messageRef(e.target)];
    case Command.MOD_UNPIN: return [' unpinned the pinned message'];
    case AuditAction.INVITE_REVOKE: return [' revoked an invitation'];
    default: return [` did ${e.action}`];
  }
}

/**
 * The log of `state.audit` (entry id → entry) for the desk; `command` lifts bans, `gate(text,
 * forgetToken)` closes the desk when the token is refused. Returns `{add, render, load, remember}`.
 */
export function auditLog({ showId, token, state, command, gate }) {
  const { remember, nameOf, messageOf } = seen(showId);

  const targetName = (id) => {
    const n = nameOf(id);
    return n ? who(n) : 'a viewer';
  };

  function messageRef(id) {
    const m = messageOf(id);
    if (!m) return 'a message';
    const text = m.text.length > 60 ? `${m.text.slice(0, 57)}…` : m.text;
    return [who(m.name || 'someone'), '’s message ', ...quoted(text)];
  }

  /** An audit entry as a sentence: "Sam timed out Dana for 10 min: spam". */
  function sentence(e) {
    const actor = who((e.actor && e.actor.name) || 'Someone');
    const you = state.you && e.actor && e.actor.id === state.you.id ? h('span', { class: 'muted' }, ' (you)') : null;
    return [actor, you, ...deed(e, targetName, messageRef), e.reason ? [': ', h('bdi', { class: 'reason', dir: 'auto' }, e.reason)] : ''];
  }

  function bannedItem(e) {
    const name = nameOf(e.target);
    const err = h('span', { class: 'row-error error-text', hidden: true });
    return h('li', { dataset: { viewerId: e.target } },
      h('span', { class: 'banned-who' }, name ? who(name) : 'A viewer',
        e.reason ? [h('span', { class: 'muted' }, ': '), h('bdi', { class: 'reason muted', dir: 'auto' }, e.reason)] : null),
      h('button', {
        type: 'button', class: 'unban small', 'aria-label': `Lift the ban on ${name || 'this viewer'}`,
        onclick: (ev) => act(ev.currentTarget, err, async () => {
          await command({ type: Command.MOD_UNBAN, viewer_id: e.target, scope: (e.details && e.details.scope) || undefined });
          toast(`${name || 'The viewer'} can join again.`, 'success');
        }),
      }, 'Lift ban'),
      err);
  }

  function renderBanned(banned) {
    $('#banned-list').replaceChildren(...[...banned.values()].reverse().map(bannedItem));
    $('#banned-empty').hidden = banned.size > 0;
  }

  function render() {
    const all = [...state.audit.values()].sort((a, b) => (a.at === b.at ? (a.id < b.id ? -1 : 1) : (a.at < b.at ? -1 : 1)));
    // Bans standing after the log's last word on each viewer.
    const banned = new Map();
    for (const e of all) {
      if (e.action === Command.MOD_BAN) banned.set(e.target, e);
      else if (e.action === Command.MOD_UNBAN) banned.delete(e.target);
    }
    const newest = all.slice().reverse().slice(0, MAX_ENTRIES);
    $('#audit-list').replaceChildren(...newest.map((e) => h('li', { dataset: { id: e.id, action: e.action } },
      h('time', { class: 'at muted', datetime: e.at, title: new Date(e.at).toLocaleString() }, timeOf(e.at)),
      h('span', { class: 'audit-text' }, ...sentence(e)))));
    $('#audit-empty').hidden = all.length > 0;
    renderBanned(banned);
  }

  function add(entries) {
    for (const e of entries) if (e && e.id) state.audit.set(e.id, e);
    render();
  }

  async function load() {
    clearError($('#audit-error'));
    try {
      const res = await api('GET', `/api/shows/${showId}/audit`, { token });
      add(res.entries || []);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        gate(DESK_INVALID_INVITE, true);
        return;
      }
      if (e instanceof ApiError && e.status === 403) {
        gate('This link does not let you moderate this show.');
        return;
      }
      showError(new Error(`The audit log could not be loaded: ${e.message}`), $('#audit-error'));
    }
  }

  return { add, render, load, remember };
}
