// The home page, /: the list is rendered by the server (it works without scripts); this only
// puts each show's time in the reader's own time zone and language ("Sat 12 Apr, 18:00 · in
// 3 days") and keeps the relative part fresh.

import { $$, startsIn } from './dom.js';

const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'short' });
const short = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit' });
const clockOnly = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayOnly = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });

function sinceText(date) {
  const mins = Math.round((Date.now() - date.getTime()) / 60000);
  if (mins < 1) return 'just started';
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (mins < 60) return `started ${rtf.format(-mins, 'minute')}`;
  return `since ${clockOnly.format(date)}`;
}

function localise() {
  for (const el of $$('time.show-time[datetime]')) {
    const date = new Date(el.getAttribute('datetime'));
    if (Number.isNaN(date.getTime())) continue;
    el.title = full.format(date);
    switch (el.dataset.status) {
      case 'live': el.textContent = sinceText(date); break;
      case 'ended': el.textContent = `ended ${dayOnly.format(date)}`; break;
      default: el.textContent = `${short.format(date)} · ${startsIn(date)}`;
    }
  }
}

localise();
setInterval(localise, 30000);
window.livesale = { ready: true, page: 'home' };
