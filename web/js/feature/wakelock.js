// Keeps a phone's screen on while it sends video (the Screen Wake Lock API where there is one),
// and takes the lock again when the page comes back into view.

/** The wake lock; `wanted()` says whether the screen should stay on. Returns `{hold, release}`. */
export function screenWakeLock(wanted) {
  let lock = null;

  async function hold() {
    if (!('wakeLock' in navigator) || lock) return;
    try {
      lock = await navigator.wakeLock.request('screen');
      lock.addEventListener('release', () => { lock = null; });
    } catch {
      // Refused (battery saver, page hidden): the phone may dim; nothing else to do.
    }
  }

  function release() {
    if (lock) lock.release().catch(() => {});
    lock = null;
  }

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && wanted()) hold();
  });
  return { hold, release };
}
