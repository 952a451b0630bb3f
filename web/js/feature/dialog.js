// The moderator desk's one action dialog (#action-dialog) and the actions that use it: a
// timeout (how long), a ban (and, for the host, in all their shows) and clearing the chat. A
// failure stays in the dialog next to its buttons; success closes it, and the focus goes back
// to what opened it.

import { $, h, fill, toast } from '../dom.js';
import { Command, Role } from '../protocol.js';
import { act, clearError } from './commands.js';

const TIMEOUTS = [[60, '1 min'], [600, '10 min'], [3600, '1 hour'], [86400, '24 hours']];

/** The dialog bound to the page; `command` sends a mod command. Returns the actions. */
export function actionDialog({ command, state }) {
  const dialog = $('#action-dialog');
  let opener = null;
  let primary = null;

  function close() {
    if (dialog.open) dialog.close();
  }

  function button(b, reason, err) {
    const btn = h('button', { type: 'button', class: b.cls || '', id: b.id, dataset: b.dataset }, b.label);
    btn.addEventListener('click', async () => {
      const why = reason ? $('#action-reason').value.trim() : '';
      const ok = await act(btn, err, () => b.run(why || undefined));
      if (ok) close();
    });
    return btn;
  }

  /**
   * Opens the dialog: a title, some body nodes, an optional reason field and buttons whose
   * `run(reason)` does the action.
   */
  function open({ opener: from, title, body = [], reason = true, buttons }) {
    opener = from || document.activeElement;
    fill($('#action-title'), ...[].concat(title));
    fill($('#action-body'), ...body);
    $('#action-reason-field').hidden = !reason;
    $('#action-reason').value = '';
    const err = $('#action-error');
    clearError(err);
    const wrap = $('#action-buttons');
    wrap.replaceChildren();
    primary = null;
    for (const b of buttons) {
      const btn = button(b, reason, err);
      if (b.primary) primary = btn;
      wrap.appendChild(btn);
    }
    wrap.appendChild(h('button', { type: 'button', class: 'dialog-cancel', onclick: close }, 'Cancel'));
    dialog.dataset.primary = primary ? '1' : '';
    if (!dialog.open) dialog.showModal();
    (reason ? $('#action-reason') : (primary || wrap.firstElementChild)).focus();
  }

  dialog.addEventListener('close', () => {
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  });
  $('#action-form').addEventListener('submit', (ev) => {
    // Enter in the reason field: the dialog's main button, if it has one.
    ev.preventDefault();
    if (primary) primary.click();
  });

  function timeout(author, from) {
    const who = author.name || 'this viewer';
    open({
      opener: from,
      title: ['Time out ', h('bdi', { dir: 'auto' }, who)],
      body: [h('p', { class: 'muted' }, 'They keep watching but cannot chat until the time is up. Pick how long:')],
      buttons: TIMEOUTS.map(([seconds, label], i) => ({
        label,
        cls: `timeout-choice${i === 1 ? ' primary' : ''}`,
        dataset: { seconds: String(seconds) },
        primary: i === 1,
        run: async (reason) => {
          await command({ type: Command.MOD_TIMEOUT, viewer_id: author.id, seconds, reason });
          toast(`${who} is timed out for ${label}.`, 'success');
        },
      })),
    });
  }

  function ban(author, from) {
    const who = author.name || 'this viewer';
    const body = [h('p', {}, 'They are removed from the show and cannot watch, chat or join it again. You can lift the ban later from “Banned in this show”.')];
    let everywhere = null;
    if (state.role === Role.CREATOR) {
      everywhere = h('input', { type: 'checkbox', id: 'ban-everywhere' });
      body.push(h('div', { class: 'check' }, everywhere, h('label', { for: 'ban-everywhere' }, 'Ban them from all my shows')));
    }
    open({
      opener: from,
      title: ['Ban ', h('bdi', { dir: 'auto' }, who), '?'],
      body,
      buttons: [{
        label: 'Ban', cls: 'danger-solid', id: 'confirm-ban', primary: true,
        run: async (reason) => {
          const scope = everywhere && everywhere.checked ? 'creator' : undefined;
          await command({ type: Command.MOD_BAN, viewer_id: author.id, reason, scope });
          toast(`${who} is banned.`, 'success');
        },
      }],
    });
  }

  function clearChat(from) {
    open({
      opener: from,
      title: 'Clear the chat for everyone?',
      body: ['Every message disappears from every viewer’s screen. This cannot be undone.'],
      reason: false,
      buttons: [{
        label: 'Clear chat', cls: 'danger-solid', id: 'confirm-clear', primary: true,
        run: async () => {
          await command({ type: Command.MOD_CLEAR });
          toast('The chat was cleared.', 'success');
        },
      }],
    });
  }

  return { timeout, ban, clearChat };
}
