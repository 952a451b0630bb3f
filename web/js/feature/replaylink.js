// When the show a viewer watches live ends, its replay is one tap away: once the server has
// settled the recording (`replay.m3u8` answers 200, within about 15 s of the end), the stage
// shows "Watch the replay", a link to this same page, which is then the replay
// (feature/replay.js). A show that recorded nothing never offers it.

/** How long after the end the replay is waited for, and how often it is asked. */
export const OFFER_WAIT_MS = 40000;
const ASK_EVERY_MS = 2000;

/**
 * Returns `ended()`: call it whenever the page learns the show has ended (a `show.status`, a
 * `welcome`); the first call asks for the replay until it is ready or `OFFER_WAIT_MS` passed,
 * then unhides `link`. Resolves true when the replay was offered.
 */
export function replayOffer({ showId, link, wait = OFFER_WAIT_MS, every = ASK_EVERY_MS }) {
  let asking = null;
  const ask = async () => {
    for (const stop = Date.now() + wait; Date.now() < stop;) {
      try {
        const res = await fetch(`/api/shows/${encodeURIComponent(showId)}/replay.m3u8`, { cache: 'no-store' });
        if (res.ok) {
          link.hidden = false;
          return true;
        }
      } catch { /* offline for a moment: ask again */ }
      await new Promise((resolve) => { setTimeout(resolve, every); });
    }
    return false;
  };
  return () => {
    asking ||= ask();
    return asking;
  };
}
