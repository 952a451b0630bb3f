// The studio's inline moderation: Delete, Time out and Ban buttons on each chat message. Delete
// goes over the live room (the room answers with `chat.deleted`); timeouts and bans go over
// HTTP, the same commands the moderator desk sends.

import { h, busy, toast } from '../dom.js';
import { Command, Role } from '../protocol.js';

const DELETE_REENABLE_MS = 5000;

function modButton(cls, text, label, fn) {
  const b = h('button', { type: 'button', class: `${cls} small`, 'aria-label': label }, text);
  b.addEventListener('click', () => fn(b));
  return b;
}

/** `actions(message)` for the studio's ChatList; `call` is the studio's API call. */
export function inlineModeration({ room, base, call }) {
  const command = (body) => call('POST', `${base}/moderation`, body);
  return function modActions(m) {
    const who = (m.author && m.author.name) || 'someone';
    const del = modButton('mod-delete', 'Delete', `Delete the message from ${who}`, (b) => {
      b.disabled = true;
      room.send({ type: Command.MOD_DELETE, message_id: m.id });
      // The room answers with chat.deleted (or an error frame): never a dead button.
      setTimeout(() => { b.disabled = false; }, DELETE_REENABLE_MS);
    });
    if (m.role !== Role.VIEWER || !m.author || !m.author.id) return [del];
    const timeout = modButton('mod-timeout', 'Time out', `Time out ${who} for 10 minutes`, (b) => busy(b, async () => {
      await command({ type: Command.MOD_TIMEOUT, viewer_id: m.author.id, seconds: 600 });
      toast(`${who} cannot chat for 10 minutes.`, 'info');
    }));
    const ban = modButton('mod-ban', 'Ban', `Ban ${who} from this show`, (b) => {
      if (!window.confirm(`Ban ${who} from this show?`)) return undefined;
      return busy(b, async () => {
        await command({ type: Command.MOD_BAN, viewer_id: m.author.id });
        toast(`${who} is banned from this show.`, 'info');
      });
    });
    return [del, timeout, ban];
  };
}
