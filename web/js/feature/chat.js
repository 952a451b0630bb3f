// The chat list shared by the viewer page, the studio and the moderator desk. Every user string
// is a text node; links are clickable only in the creator's and moderators' messages (the
// protocol's rule), and everyone's text gets its own direction (dir="auto"), so Arabic and
// Hebrew render right to left inside a left-to-right page and the other way round.

import { h, fill, timeOf } from '../dom.js';
import { Role } from '../protocol.js';

const URL_RE = /\bhttps?:\/\/[^\s<>"']+/g;

/** Text with http(s) links as <a> elements (rel=noopener nofollow ugc), everything else text. */
function linkified(text) {
  const parts = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push(h('a', { href: m[0], target: '_blank', rel: 'noopener noreferrer nofollow ugc' }, m[0]));
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

const ROLE_LABEL = { [Role.CREATOR]: 'Host', [Role.MODERATOR]: 'Mod' };

/**
 * A chat list bound to a <ul>. `actions(msg)` returns extra elements for a message (the
 * moderation buttons of the studio and the desk); `onmention` is unused by default.
 *
 *   const chat = new ChatList(ul, { actions: (m) => [button…], max: 200 });
 *   chat.reset(welcome.chat); chat.add(msg); chat.remove(id); chat.clear();
 */
export class ChatList {
  constructor(ul, { actions = null, max = 200, empty = 'No messages yet.' } = {}) {
    this.ul = ul;
    this.actions = actions;
    this.max = max;
    this.empty = empty;
    this.ul.classList.add('chat-list');
    this.ul.setAttribute('aria-live', 'polite');
    this.ul.setAttribute('aria-relevant', 'additions');
    this.byId = new Map();
    this.showEmpty();
  }

  showEmpty() {
    if (this.byId.size === 0 && this.empty) {
      fill(this.ul, h('li', { class: 'chat-empty muted' }, this.empty));
    }
  }

  render(m) {
    const role = m.role || Role.VIEWER;
    const text = role === Role.CREATOR || role === Role.MODERATOR ? linkified(m.text) : [m.text];
    const li = h('li', { class: `msg role-${role}`, dataset: { id: m.id, author: (m.author && m.author.id) || '' } },
      ROLE_LABEL[role] ? h('span', { class: 'role badge' }, ROLE_LABEL[role]) : null,
      h('bdi', { class: 'who', dir: 'auto' }, (m.author && m.author.name) || 'Someone'),
      h('span', { class: 'text', dir: 'auto' }, ...text),
      m.at ? h('time', { class: 'at sr-only', datetime: m.at }, timeOf(m.at)) : null,
    );
    if (this.actions) {
      const extra = this.actions(m);
      if (extra && extra.length) li.appendChild(h('span', { class: 'msg-actions' }, ...extra));
    }
    return li;
  }

  /** Replaces the list with `messages` (a welcome's history, oldest first). */
  reset(messages = []) {
    this.byId.clear();
    this.ul.replaceChildren();
    for (const m of messages) this.add(m, false);
    this.showEmpty();
    this.scroll(true);
  }

  add(m, scroll = true) {
    if (this.byId.has(m.id)) return;
    if (this.byId.size === 0) this.ul.replaceChildren();
    const nearBottom = this.ul.scrollHeight - this.ul.scrollTop - this.ul.clientHeight < 80;
    const li = this.render(m);
    this.byId.set(m.id, li);
    this.ul.appendChild(li);
    while (this.byId.size > this.max) {
      const [oldest, el] = this.byId.entries().next().value;
      this.byId.delete(oldest);
      el.remove();
    }
    if (scroll) this.scroll(nearBottom);
  }

  remove(id) {
    const li = this.byId.get(id);
    if (!li) return;
    this.byId.delete(id);
    li.remove();
    this.showEmpty();
  }

  clear() {
    this.byId.clear();
    this.ul.replaceChildren();
    this.showEmpty();
  }

  scroll(force) {
    if (force) this.ul.scrollTop = this.ul.scrollHeight;
  }
}
