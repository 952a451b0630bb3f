// The studio's chapters: the "Marker" button beside the program controls (while live: a
// marker at the current time, confirmed by a toast and the status line), and the chapter
// list where the creator renames or hides chapters (any time; after the end it is the
// replay's table of contents). Speaks GET/POST/PATCH /api/shows/{id}/chapters.

import { $, h, fill, busy, toast, clock, userText } from '../dom.js';

const KIND_TEXT = { pin: 'Pinned', deal: 'Deal', sold_out: 'Sold out', cut: 'Cut', marker: 'Marker' };

/** Wires the marker button and the chapter list; returns `{ load, setLive(live) }`. */
export function chapters({ base, call }) {
  const list = $('#chapter-list');
  const empty = $('#chapters-empty');
  const status = $('#marker-status');

  function row(c) {
    const input = h('input', {
      class: 'chapter-title grow', value: c.title, maxlength: 80, dir: 'auto',
      'aria-label': `Title of the chapter at ${clock(Math.floor(c.at_ms / 1000))}`,
    });
    const rename = h('button', { type: 'button', class: 'small chapter-rename' }, 'Rename');
    const hide = h('button', { type: 'button', class: 'small chapter-hide', 'aria-pressed': String(!!c.hidden) },
      c.hidden ? 'Show' : 'Hide');
    rename.addEventListener('click', () => busy(rename, async () => {
      const title = input.value.trim();
      if (!title) { toast('A chapter needs a title.', 'error'); return; }
      await call('PATCH', `${base}/chapters/${encodeURIComponent(c.id)}`, { title });
      toast('Chapter renamed.', 'success');
      await load();
    }));
    hide.addEventListener('click', () => busy(hide, async () => {
      await call('PATCH', `${base}/chapters/${encodeURIComponent(c.id)}`, { hidden: !c.hidden });
      toast(c.hidden ? 'Chapter shown.' : 'Chapter hidden from the replay.', 'success');
      await load();
    }));
    return h('li', { class: 'chapter-item', dataset: { chapterId: c.id, kind: c.kind, hidden: String(!!c.hidden) } },
      h('span', { class: 'chapter-at muted' }, clock(Math.floor(c.at_ms / 1000))),
      h('span', { class: 'chapter-kind badge' }, KIND_TEXT[c.kind] || c.kind),
      input, rename, hide);
  }

  async function load() {
    const got = await call('GET', `${base}/chapters?all=true`);
    fill(list, got.chapters.map(row));
    empty.hidden = got.chapters.length > 0;
  }

  $('#marker-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('#marker-title');
    const title = input.value.trim() || 'Marker';
    busy($('#add-marker'), async () => {
      const c = await call('POST', `${base}/chapters`, { title });
      input.value = '';
      fill(status, 'Marker added: ', userText(c.title), ` at ${clock(Math.floor(c.at_ms / 1000))}`);
      toast(`Marker added: ${c.title}`, 'success');
      await load();
    }, status);
  });

  function setLive(live) {
    $('#add-marker').disabled = !live;
    $('#marker-title').disabled = !live;
  }

  return { load, setLive };
}
