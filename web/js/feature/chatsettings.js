// The moderator desk's chat settings: slow mode, pause, the link policy, and the blocked terms.
// Each control sends its command and shows the settings the room then announces (`chat.mode`,
// `mod.terms`); a refusal stays next to the control.

import { $, h, showError } from '../dom.js';
import { Command } from '../protocol.js';
import { act, clearError } from './commands.js';

/** The settings of `state.mode` and `state.terms` on the desk `desk`. */
export function chatSettings({ desk, state, command }) {
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

  /** Sends `body` for `control`; on success `field` of the mode becomes `value`. */
  async function setMode(control, body, field, value) {
    const ok = await act(control, $('#settings-error'), () => command(body));
    if (ok) state.mode[field] = value;
    applyMode(state.mode);
  }

  $('#slow-mode').addEventListener('change', (ev) => {
    const seconds = Number(ev.currentTarget.value);
    setMode(ev.currentTarget, { type: Command.MOD_SLOW, seconds }, 'slow_mode_s', seconds);
  });
  $('#links-policy').addEventListener('change', (ev) => {
    const policy = ev.currentTarget.value;
    setMode(ev.currentTarget, { type: Command.MOD_LINKS, policy }, 'links', policy);
  });
  $('#pause-chat').addEventListener('click', (ev) => {
    const paused = !state.mode.paused;
    setMode(ev.currentTarget, { type: Command.MOD_PAUSE, paused }, 'paused', paused);
  });

  function renderTerms(terms) {
    state.terms = [...terms].sort((a, b) => a.localeCompare(b));
    $('#terms-list').replaceChildren(...state.terms.map((term) => h('li', { dataset: { term } },
      h('bdi', { class: 'term', dir: 'auto' }, term),
      h('button', {
        type: 'button', class: 'term-remove small', 'aria-label': `Unblock “${term}”`,
        onclick: (ev) => act(ev.currentTarget, $('#terms-error'), () => command({ type: Command.MOD_TERMS, add: [], remove: [term] })),
      }, '×'))));
    $('#terms-empty').hidden = state.terms.length > 0;
  }

  /** The host's terms for all their shows: shown, not editable here (the dashboard owns them). */
  function renderCreatorTerms(terms) {
    const sorted = [...terms].sort((a, b) => a.localeCompare(b));
    $('#creator-terms-list').replaceChildren(...sorted.map((term) => h('li', { dataset: { term } },
      h('bdi', { class: 'term', dir: 'auto' }, term))));
    $('#creator-terms').hidden = sorted.length === 0;
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
    const ok = await act($('#term-add'), err, () => command({ type: Command.MOD_TERMS, add, remove: [] }));
    if (ok) {
      input.value = '';
      renderTerms([...new Set([...state.terms, ...add])]);
    } else {
      input.setAttribute('aria-invalid', 'true');
    }
    input.focus();
  });

  return { applyMode, renderTerms, renderCreatorTerms };
}
