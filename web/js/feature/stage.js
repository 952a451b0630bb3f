// The viewer's stage: the show's state badge ("Starts in 3 days", "Live", "Ended", "Cancelled")
// and what the video area says when there is no picture (upcoming, right back, ended, cancelled,
// connecting, or the LL-HLS player's words for a stream that is not there). It starts and stops the program video as the show goes live and ends.

import { fill, toast, startsIn } from '../dom.js';
import { ShowStatus } from '../protocol.js';

const STATE_LABEL = {
  [ShowStatus.SCHEDULED]: 'Upcoming', [ShowStatus.LIVE]: 'Live', [ShowStatus.ENDED]: 'Ended', [ShowStatus.CANCELLED]: 'Cancelled',
};

/** The stage's mode and words for the page state `S`. */
function stageOf(S) {
  if (S.status === ShowStatus.SCHEDULED) {
    const when = new Date(S.scheduledAt);
    const detail = Number.isNaN(when.getTime()) ? '' : when.toLocaleString(undefined, {
      weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
    });
    return { mode: 'scheduled', headline: `Starts ${startsIn(S.scheduledAt)}`, detail };
  }
  if (S.status === ShowStatus.ENDED) {
    return { mode: 'ended', headline: 'This show has ended', detail: 'Thanks for watching!' };
  }
  if (S.status === ShowStatus.CANCELLED) {
    return { mode: 'cancelled', headline: 'This show was cancelled', detail: 'The host called it off.' };
  }
  if (S.programKnown && S.program === null) {
    return { mode: 'right-back', headline: 'We’ll be right back', detail: 'The host is getting the next shot ready.' };
  }
  // The LL-HLS player's words for a stream that is not there (yet): not a black video.
  if (!S.playing && S.videoWords) return { mode: 'no-stream', headline: S.videoWords, detail: '' };
  if (!S.playing) return { mode: 'loading', headline: 'Connecting to the video…', detail: '' };
  return { mode: 'playing', headline: '', detail: '' };
}

/**
 * The stage of page state `S` (`status`, `scheduledAt`, `program`, `programKnown`, `playing`,
 * `videoWords`)
 * in the elements of `el`; `program` is the program video (`start`, `stop`).
 * Returns `{setStatus(status, show), render(), tick()}`.
 */
export function viewerStage({ root, S, el, program }) {
  function renderStateLabel() {
    if (S.status === ShowStatus.SCHEDULED) fill(el.state, `Starts ${startsIn(S.scheduledAt)}`);
    else fill(el.state, STATE_LABEL[S.status] || S.status);
  }

  function render() {
    const { mode, headline, detail } = stageOf(S);
    el.stage.dataset.mode = mode;
    el.stageState.dataset.mode = mode;
    el.stageState.hidden = mode === 'playing';
    fill(el.headline, headline);
    fill(el.detail, detail);
    el.unmute.hidden = mode !== 'playing';
  }

  function setStatus(status, show) {
    if (show && show.scheduled_at) S.scheduledAt = show.scheduled_at;
    const was = S.status;
    S.status = status;
    root.dataset.status = status;
    el.state.dataset.state = status;
    el.state.classList.toggle('badge-live', status === ShowStatus.LIVE);
    const over = status === ShowStatus.ENDED || status === ShowStatus.CANCELLED;
    el.state.classList.toggle('badge-ended', over);
    renderStateLabel();
    if (status === ShowStatus.LIVE) program.start();
    if (over) program.stop();
    if (was && was !== status && status === ShowStatus.LIVE) toast('The show is live!', 'info');
  }

  /** Once a second: an upcoming show's "Starts in …" stays true. */
  function tick() {
    if (S.status === ShowStatus.SCHEDULED) { renderStateLabel(); render(); }
  }

  return { setStatus, render, renderStateLabel, tick };
}
