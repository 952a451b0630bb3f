// The moderator desk's review queue: messages held for review (a blocked term, a link) with
// Approve and Reject. Another moderator may have reviewed one already; then it just leaves the
// queue, with a word why.

import { $, h, showError, timeOf } from '../dom.js';
import { Code, Command } from '../protocol.js';
import { act } from './commands.js';

const HOLD_REASON = { blocked_term: 'Blocked term', link: 'Link' };

/** The queue of `state.held` (message id → li); `remember(m)` keeps its author's name. */
export function heldQueue({ state, command, remember }) {
  function changed() {
    const n = state.held.size;
    $('#held-count').textContent = String(n);
    $('#held-empty').hidden = n > 0;
    $('#held-list').hidden = n === 0;
  }

  function remove(id) {
    const li = state.held.get(id);
    if (!li) return;
    state.held.delete(id);
    const next = li.nextElementSibling || li.previousElementSibling;
    const hadFocus = li.contains(document.activeElement);
    li.remove();
    changed();
    if (hadFocus) (next ? next.querySelector('button') : $('#held-h')).focus?.();
  }

  async function review(button, err, id, approve) {
    const ok = await act(button, err, async () => {
      try {
        await command({ type: approve ? Command.MOD_APPROVE : Command.MOD_REJECT, message_id: id });
      } catch (e) {
        if (e.code === Code.NOT_HELD) {
          remove(id);
          showError(e, $('#held-error'));
          return;
        }
        throw e;
      }
    });
    if (ok) remove(id);
  }

  function add(message, reason) {
    if (!message || state.held.has(message.id)) return;
    remember(message);
    const err = h('p', { class: 'row-error error-text', hidden: true });
    const who = (message.author && message.author.name) || 'Someone';
    const choice = (cls, label, approve) => h('button', {
      type: 'button', class: `${cls} small${approve ? ' primary' : ''}`, 'aria-label': `${label} the message from ${who}`,
      onclick: (ev) => review(ev.currentTarget, err, message.id, approve),
    }, label);
    const li = h('li', { class: 'held', dataset: { id: message.id, author: (message.author && message.author.id) || '' } },
      h('div', { class: 'held-head' },
        h('span', { class: 'badge badge-hold' }, HOLD_REASON[reason] || 'Held'),
        h('bdi', { class: 'who', dir: 'auto' }, who),
        message.at ? h('time', { class: 'at muted', datetime: message.at }, timeOf(message.at)) : null),
      h('p', { class: 'text', dir: 'auto' }, message.text),
      h('div', { class: 'held-actions' }, choice('approve', 'Approve', true), choice('reject', 'Reject', false)),
      err);
    state.held.set(message.id, li);
    $('#held-list').appendChild(li);
    changed();
  }

  /** Replaces the queue with a welcome's `held` list. */
  function reset(items) {
    state.held.clear();
    $('#held-list').replaceChildren();
    for (const item of items) add(item.message, item.reason);
    changed();
  }

  return { add, remove, reset, changed };
}
