// The moderator desk, /moderate/{show}: the live chat with one-tap delete, timeout and ban; the
// held-for-review queue; slow mode, pause, link policy and blocked terms; the moderators-only
// channel; the audit log. This file wires the features (feature/*.js) to the page.
//
// The desk listens on the live room (docs/protocol.md) with the moderator's (or the creator's)
// token and sends its commands over HTTP (`POST /api/shows/{id}/moderation`, the same JSON as the
// WebSocket's mod.* frames). Each HTTP answer belongs to the button that sent it, so a refusal
// (an invalid term, a viewer who is not in the show…) is shown right next to that button.

import { tokenFromLink, store } from './api.js';
import { h, fill, $, toast, showError } from './dom.js';
import { LiveRoom } from './live.js';
import { Frame, Close, Conn, Role, Notice, ShowStatus } from './protocol.js';
import { chatErrorText, deskCloseWords, DESK_INVALID_INVITE } from './feature/errors.js';
import { connectionBanner } from './feature/banner.js';
import { moderationCommands } from './feature/commands.js';
import { actionDialog } from './feature/dialog.js';
import { deskChat } from './feature/deskchat.js';
import { heldQueue } from './feature/held.js';
import { chatSettings } from './feature/chatsettings.js';
import { auditLog } from './feature/audit.js';
import { auctionDesk } from './feature/auctiondesk.js';
import { everyTick } from './feature/deals.js';

const desk = $('#desk');
const showId = desk.dataset.showId;
const token = tokenFromLink(`moderate:${showId}`);
const CHAT_ANSWER_MS = 10000;

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

const room = new LiveRoom(showId, () => token);

/** Closes the desk with `text`: no token, a bad token, the wrong role, a revoked invite. */
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
  document.body.dataset.conn = Conn.CLOSED;
  $('#conn-status').hidden = true;
  $('#desk-gate').focus?.();
}

// ---- features -------------------------------------------------------------------------------

const command = moderationCommands({ showId, token, onInvalid: () => gate(DESK_INVALID_INVITE, true) });
const audit = auditLog({ showId, token, state, command, gate });
const dialogs = actionDialog({ command, state });
const { chat, modChat, showPinned } = deskChat({ room, state, command, dialogs });
const held = heldQueue({ state, command, remember: audit.remember });
const settings = chatSettings({ desk, state, command });
const auction = auctionDesk({ showId, token });

const who = (text) => h('bdi', { class: 'who', dir: 'auto' }, text);
const viewers = (n) => { $('#mod-viewers').textContent = `${n} watching`; };
const STATUS_TEXT = { [ShowStatus.LIVE]: 'Live', [ShowStatus.ENDED]: 'Ended' };

function showStatus(status) {
  const el = $('#show-state');
  el.dataset.state = status;
  el.className = `badge badge-${status}`;
  el.textContent = STATUS_TEXT[status] || 'Scheduled';
  desk.dataset.status = status;
}

// ---- the live room --------------------------------------------------------------------------

connectionBanner(room, $('#conn-status'), {
  [Conn.OPEN]: () => null,
  [Conn.CONNECTING]: () => ({ text: 'Connecting…', hidden: true }),
  [Conn.RECONNECTING]: () => 'Connection lost. Reconnecting…',
  [Conn.CLOSED]: ({ code, message }) => {
    const words = deskCloseWords(code);
    if (!words) return message || 'Disconnected. Reload the page to reconnect.';
    gate(words, code === Close.INVALID_TOKEN);
    return undefined;
  },
}, { skip: () => state.gated });

room.on(Frame.WELCOME, (w) => {
  if (w.role !== Role.MODERATOR && w.role !== Role.CREATOR) {
    gate(w.role === Role.GUEST
      ? 'This desk needs your moderator invite link. Open the link the host sent you.'
      : 'This link is not a moderator invite. Ask the host for a moderator link.');
    return;
  }
  state.role = w.role;
  state.you = w.you || null;
  desk.dataset.role = w.role;
  fill($('#desk-who'), 'You: ', who((w.you && w.you.name) || (w.role === Role.CREATOR ? 'Host' : 'Moderator')),
    w.role === Role.CREATOR ? ' (host)' : ' (moderator)');
  for (const m of w.chat || []) audit.remember(m);
  chat.reset(w.chat || []);
  held.reset(w.held || []);
  settings.renderTerms(w.terms || []);
  settings.renderCreatorTerms(w.creator_terms || []);
  settings.applyMode(w.chat_mode);
  showPinned(w.pinned_message);
  if (typeof w.viewers === 'number') viewers(w.viewers);
  if (w.show) showStatus(w.show.status);
  if (w.resync) audit.load();
  auction.welcome(w);
});

room.on(Frame.CHAT_MESSAGE, (m) => { audit.remember(m); chat.add(m); });
room.on(Frame.CHAT_DELETED, (f) => chat.remove(f.id));
room.on(Frame.CHAT_CLEARED, () => chat.reset([]));
room.on(Frame.CHAT_MODE, (f) => settings.applyMode(f));
room.on(Frame.CHAT_PINNED, (f) => showPinned(f.message));
room.on(Frame.CHAT_HELD, (f) => held.add(f.message, f.reason));
room.on(Frame.CHAT_RESOLVED, (f) => held.remove(f.id));
room.on(Frame.MOD_TERMS, (f) => settings.renderTerms(f.terms || []));
room.on(Frame.MOD_MESSAGE, (m) => { audit.remember(m); modChat.add(m); });
room.on(Frame.MOD_AUDIT, (f) => audit.add([f.entry]));
room.on(Frame.PRESENCE, (f) => viewers(f.viewers));
room.on(Frame.SHOW_STATUS, (f) => showStatus(f.status));
room.on(Frame.AUCTION_SCHEDULED, auction.lot);
room.on(Frame.AUCTION_STARTED, auction.lot);
room.on(Frame.AUCTION_BID, auction.lot);
room.on(Frame.AUCTION_ENDED, auction.ended);
room.on(Frame.AUCTION_LOG, auction.log);
room.on(Frame.AUCTION_ALERT, auction.alert);
room.on(Frame.MOD_NOTICE, (f) => {
  if (state.you && f.to === state.you.id && f.action === Notice.REVOKED) {
    gate('Your invite was revoked by the host. Ask them for a new moderator link if this is a mistake.');
  }
});
room.on(Frame.ERROR, (f) => {
  // Commands go over HTTP; what arrives here answers this desk's own public chat messages.
  const recentChat = state.chatSentAt && Date.now() - state.chatSentAt < CHAT_ANSWER_MS;
  if (recentChat) showError(new Error(chatErrorText(f)), $('#chat-form-error'));
  else toast(chatErrorText(f), 'error', 6000);
});

// ---- start ----------------------------------------------------------------------------------

held.changed();
settings.renderTerms([]);
audit.render();
showStatus(desk.dataset.status);

window.livesale = {
  ready: true,
  page: 'moderate',
  showId,
  room,
  command,
  state,
  auction: auction.state,
};

if (!token) {
  gate('This desk needs your moderator invite link. Open the link the host sent you (it ends with #token=…).');
} else {
  document.body.dataset.conn = Conn.CONNECTING;
  room.connect();
  audit.load();
  auction.load().catch((e) => showError(e, $('#auction-panel-error')));
  everyTick(auction.tick);
}
