// The connection banner: follows the live room's state, mirrors it on `body[data-conn]` (a hook
// of every page, docs/web-hooks.md) and says in the page's own words what is happening. Each
// page gives its words; this is the one place that decides when the banner shows and hides.

import { fill } from '../dom.js';

/**
 * Binds `el` to `room`'s connection state. `words` maps a state (`Conn`) to a function of the
 * state event (`{state, code, message, inMs}`) that returns the text to show, `null` to hide
 * the banner, `{text, hidden}` for both at once, or `undefined` to leave it as it is (the
 * function may have acted itself, e.g. a page that closes a gate). With `hide: false` the element is never hidden: `null` empties it.
 * `skip(event)` returning true ignores the event entirely (a page that has closed already).
 */
export function connectionBanner(room, el, words, { hide = true, skip = null } = {}) {
  room.onState((ev) => {
    if (skip && skip(ev)) return;
    document.body.dataset.conn = ev.state;
    const say = words[ev.state];
    if (!say) return;
    const text = say(ev);
    if (text === undefined) return;
    if (text === null) {
      if (hide) el.hidden = true;
      else fill(el);
      return;
    }
    if (typeof text === 'object') {
      fill(el, text.text);
      el.hidden = text.hidden;
      return;
    }
    fill(el, text);
    if (hide) el.hidden = false;
  });
}
