// The viewer's chat box: the form that sends (asking a guest for a name first), the short-lived
// error line under it (refusals in words, errors.js), and the note that says chat is paused or
// slow. The list of messages itself is ChatList (chat.js).

import { fill } from '../dom.js';
import { Command } from '../protocol.js';

const ERROR_MS = 8000;

/**
 * The chat box of the elements `el` (`chatForm`, `chatInput`, `chatError`, `chatNote`);
 * `identity.need(label, then)` asks a guest for a name. Returns `{showError, setMode}`.
 */
export function chatBox({ el, room, identity }) {
  let timer = null;

  function showError(text) {
    fill(el.chatError, text);
    el.chatError.hidden = false;
    clearTimeout(timer);
    timer = setTimeout(() => { el.chatError.hidden = true; }, ERROR_MS);
  }

  function send() {
    const text = el.chatInput.value.trim();
    if (!text) { showError('Type a message first.'); return; }
    el.chatError.hidden = true;
    room.send({ type: Command.CHAT_SEND, text });
    el.chatInput.value = '';
  }

  el.chatForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!el.chatInput.value.trim()) { showError('Type a message first.'); return; }
    if (identity.need('Pick a name to chat', async () => { send(); el.chatInput.focus(); })) return;
    send();
  });

  /** Shows what a `chat.mode` frame (or the welcome's `chat_mode`) means for a viewer. */
  function setMode(mode) {
    if (!mode) return;
    const notes = [];
    if (mode.paused) notes.push('Chat is paused by the moderators.');
    if (mode.slow_mode_s) notes.push(`Slow mode: one message every ${mode.slow_mode_s} s.`);
    fill(el.chatNote, notes.join(' '));
    el.chatNote.hidden = notes.length === 0;
  }

  return { showError, setMode };
}
