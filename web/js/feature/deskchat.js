// The moderator desk's chat: one-tap Delete, Timeout, Ban and Pin on each message (a refusal
// shows in the message's row), the desk's own public chat box, "Clear chat", the pinned message
// above the chat, and the moderators-only channel.

import { $, h, fill, showError } from '../dom.js';
import { Command, Role } from '../protocol.js';
import { ChatList } from './chat.js';
import { act, clearError } from './commands.js';

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

/** Sends the form's text with `send(text)`; an empty one is refused in `err`. */
function textForm(form, input, err, send) {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    clearError(err);
    if (!text) {
      showError(new Error('Type a message first.'), err);
      return;
    }
    send(text);
  });
}

/**
 * The desk's chat lists for `state`; `dialogs` opens the timeout and ban dialogs.
 * Returns `{chat, modChat, showPinned}`.
 */
export function deskChat({ room, state, command, dialogs }) {
  function messageActions(m) {
    const who = (m.author && m.author.name) || 'someone';
    const isViewer = (m.role || Role.VIEWER) === Role.VIEWER;
    const row = (ev) => ev.currentTarget.closest('li');
    const out = [
      smallButton('mod-delete', 'Delete', `Delete the message from ${who}`, (ev) => {
        const li = row(ev);
        act(ev.currentTarget, rowError(li), async () => {
          await command({ type: Command.MOD_DELETE, message_id: m.id });
          chat.remove(m.id);
        });
      }),
    ];
    if (isViewer && m.author && m.author.id) {
      out.push(
        smallButton('mod-timeout', 'Timeout', `Time out ${who}`, (ev) => dialogs.timeout(m.author, ev.currentTarget)),
        smallButton('mod-ban', 'Ban', `Ban ${who}`, (ev) => dialogs.ban(m.author, ev.currentTarget)),
      );
    }
    out.push(smallButton('mod-pin', 'Pin', `Pin the message from ${who} above the chat`, (ev) => {
      const li = row(ev);
      act(ev.currentTarget, rowError(li), () => command({ type: Command.MOD_PIN, message_id: m.id }));
    }));
    return out;
  }

  const chat = new ChatList($('#chat-list'), { actions: messageActions, max: 300, empty: 'No messages yet. They appear here as viewers write.' });
  const modChat = new ChatList($('#mod-chat-list'), { max: 200, empty: 'Only the host and moderators see this channel.' });

  const input = $('#chat-input');
  textForm($('#chat-form'), input, $('#chat-form-error'), (text) => {
    state.chatSentAt = Date.now();
    room.send({ type: Command.CHAT_SEND, text });
    input.value = '';
  });

  const modInput = $('#mod-chat-input');
  textForm($('#mod-chat-form'), modInput, $('#mod-chat-error'), async (text) => {
    const ok = await act($('#mod-chat-send'), $('#mod-chat-error'), () => command({ type: Command.MOD_CHAT, text }));
    if (ok) modInput.value = '';
    modInput.focus();
  });

  $('#clear-chat').addEventListener('click', (ev) => dialogs.clearChat(ev.currentTarget));
  $('#unpin').addEventListener('click', (ev) => {
    act(ev.currentTarget, $('#chat-error'), () => command({ type: Command.MOD_UNPIN }));
  });

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

  return { chat, modChat, showPinned };
}
