// The studio's show controls: the state badge, "Go live", and "End show" behind a confirmation
// dialog (a plain confirm where the browser has no <dialog>).

import { $, busy, toast } from '../dom.js';
import { ShowStatus } from '../protocol.js';

const STATE_TEXT = { [ShowStatus.SCHEDULED]: 'Scheduled', [ShowStatus.LIVE]: 'Live', [ShowStatus.ENDED]: 'Ended' };

/**
 * The controls of the studio `root` for `state.status`; `call(method, path)` is the studio's
 * API call and `onEnded()` lets the other features close down. Returns `setStatus(status)`.
 */
export function showControls({ root, state, base, call, onEnded }) {
  function setStatus(status) {
    state.status = status;
    root.dataset.status = status;
    const badge = $('#show-state');
    badge.dataset.state = status;
    badge.textContent = STATE_TEXT[status] || status;
    badge.classList.toggle('badge-live', status === ShowStatus.LIVE);
    badge.classList.toggle('badge-ended', status === ShowStatus.ENDED);
    $('#go-live').hidden = status !== ShowStatus.SCHEDULED;
    $('#end-show').hidden = status !== ShowStatus.LIVE;
    if (status === ShowStatus.ENDED) onEnded();
  }

  function endShow() {
    return busy($('#end-show'), async () => {
      const show = await call('POST', `${base}/end`);
      setStatus(show.status);
      toast('The show has ended.', 'info');
    });
  }

  $('#go-live').addEventListener('click', (e) => busy(e.currentTarget, async () => {
    const show = await call('POST', `${base}/start`);
    setStatus(show.status);
    toast('You are live.', 'success');
  }));

  const endDialog = $('#end-dialog');
  $('#end-show').addEventListener('click', () => {
    if (typeof endDialog.showModal === 'function') {
      endDialog.returnValue = '';
      endDialog.showModal();
    } else if (window.confirm('End the show? It cannot go live again.')) {
      endShow();
    }
  });
  endDialog.addEventListener('close', () => {
    if (endDialog.returnValue === 'end') endShow();
    else $('#end-show').focus();
  });

  return setStatus;
}
