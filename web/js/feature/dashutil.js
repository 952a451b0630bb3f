// What the dashboard's sections share: times typed in the browser's time zone and sent as
// RFC 3339 with its offset, copying a link (or selecting it where there is no clipboard), a QR
// code from the server, one confirmation dialog whose refusals stay inside it, reading an
// ndjson stream line by line, saving a download, and telling "this route is not on the server
// yet" apart from a real refusal.

import { api } from '../api.js';
import { $, h, fill, toast } from '../dom.js';

const pad = (n, w = 2) => String(Math.trunc(Math.abs(n))).padStart(w, '0');

/**
 * A `datetime-local` value ("2026-12-24T19:30") read in the browser's time zone, as RFC 3339
 * with that zone's offset then ("2026-12-24T19:30:00-05:00"), or null when it is no time.
 */
export function rfc3339Local(value) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(String(value || ''))) return null;
  const d = new Date(value); // a date-time without an offset is local time
  if (Number.isNaN(d.getTime())) return null;
  return rfc3339Of(d);
}

/** A Date as RFC 3339 in the browser's time zone, with its offset. */
export function rfc3339Of(d) {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
    + `${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

/** An RFC 3339 time as the value of a `datetime-local` input in the browser's time zone. */
export function localInputValue(at) {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The browser's time zone by name ("Europe/Paris"), for the hint under a time field. */
export function timeZoneName() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    return '';
  }
}

/** "Thu 24 Dec, 19:30" in the reader's language and time zone. */
export function whenText(at) {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(undefined, {
    weekday: 'short', day: 'numeric', month: 'short', year: d.getFullYear() === new Date().getFullYear() ? undefined : 'numeric',
    hour: '2-digit', minute: '2-digit',
  });
}

/** Whether a refusal says the server has no such route (an older server): the caller falls back. */
export function missingRoute(e) {
  return !!e && ((e.status === 404 && e.code === 'not_found') || e.status === 405);
}

/** Copies `text`; without a clipboard (plain http) selects `element`'s text for Ctrl+C. */
export async function copyText(text, element) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Link copied.', 'success');
    return true;
  } catch {
    if (element) {
      const range = document.createRange();
      range.selectNodeContents(element);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    toast('Press Ctrl+C (or ⌘C) to copy the selected link.', 'info');
    return false;
  }
}

const qrUrls = new WeakMap();

/** Draws the QR code of `text` (the server makes the SVG) into `img`; a failure goes in `note`. */
export async function showQr(img, text, note) {
  if (note) fill(note);
  try {
    const svg = await api('POST', '/api/qr', { body: { text } });
    const old = qrUrls.get(img);
    if (old) URL.revokeObjectURL(old);
    const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
    qrUrls.set(img, url);
    img.src = url;
    img.hidden = false;
  } catch (err) {
    img.hidden = true;
    if (note) fill(note, `The QR code could not be made (${err.message}). Copy the link instead.`);
  }
}

/** Saves `blob` as a download named `filename`. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/**
 * Reads a response of `application/x-ndjson` line by line, calling `onLine(object)` for each;
 * resolves when the stream ends.
 */
export async function readNdjson(response, onLine) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffered += decoder.decode(value, { stream: true });
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line) onLine(JSON.parse(line));
      nl = buffered.indexOf('\n');
    }
    if (done) break;
  }
  const rest = (buffered + decoder.decode()).trim();
  if (rest) onLine(JSON.parse(rest));
}

/** Marks `input` as the field a form's problem is about (or clears the form's marks). */
export function fieldProblem(form, error, input, message) {
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
  if (!message) {
    error.hidden = true;
    fill(error);
    return;
  }
  fill(error, message);
  error.hidden = false;
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  }
}

/** Whether `text` is an http(s) address (the server checks again). */
export function webAddress(text) {
  try {
    const u = new URL(text);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

/**
 * The page's one confirmation dialog (#confirm-dialog). `ask({title, body, ok, cancel, danger,
 * run})` opens it; `run()` does the action: a failure stays in the dialog in words, a success
 * closes it. Esc or the cancel button closes it without acting; the focus returns to what opened
 * it. Resolves with run's result, or undefined when cancelled or refused.
 */
export function confirmDialog() {
  const dialog = $('#confirm-dialog');
  const ok = $('#confirm-ok');
  const error = $('#confirm-error');
  let pending = null;

  ok.addEventListener('click', async () => {
    if (!pending || ok.disabled) return;
    const current = pending;
    ok.disabled = true;
    ok.setAttribute('aria-busy', 'true');
    try {
      current.result = await current.run();
      current.done = true;
      dialog.close('ok');
    } catch (e) {
      fill(error, (current.words && current.words(e)) || e.message || String(e));
      error.hidden = false;
      ok.focus();
    } finally {
      ok.disabled = false;
      ok.removeAttribute('aria-busy');
    }
  });
  dialog.addEventListener('close', () => {
    const current = pending;
    pending = null;
    if (!current) return;
    if (current.opener && current.opener.isConnected) current.opener.focus();
    current.resolve(current.done ? current.result : undefined);
  });

  return function ask({ title, body = [], ok: okLabel = 'OK', cancel = 'Cancel', danger = false, run, words, opener }) {
    return new Promise((resolve) => {
      pending = { run, words, resolve, opener: opener || document.activeElement, done: false };
      fill($('#confirm-h'), title);
      fill($('#confirm-body'), ...[].concat(body).map((b) => (typeof b === 'string' ? h('p', {}, b) : b)));
      fill(ok, okLabel);
      ok.classList.toggle('danger-fill', danger);
      fill($('#confirm-cancel'), cancel);
      error.hidden = true;
      fill(error);
      if (!dialog.open) dialog.showModal();
      $('#confirm-cancel').focus();
    });
  };
}

/** A `<ul>` fed a page at a time with a "Load more" button. */
export function pagedList({ list, more, status, render, empty }) {
  let next = null;
  let loader = null;
  let count = 0;
  async function load(fetchPage, reset) {
    if (reset) {
      next = null;
      count = 0;
      loader = fetchPage;
    }
    const page = await loader(next);
    const items = page.items || [];
    if (reset) fill(list);
    for (const item of items) list.appendChild(render(item));
    count += items.length;
    next = page.next_cursor || null;
    more.hidden = !next;
    if (status) fill(status, count ? (next ? `${count} shown; more below.` : `${count} shown.`) : empty);
    return items;
  }
  more.addEventListener('click', async () => {
    more.disabled = true;
    const focusAfter = list.children.length;
    try {
      await load(null, false);
      const first = list.children[focusAfter];
      const target = first && (first.querySelector('a, button') || first);
      if (target) {
        if (target === first) first.tabIndex = -1;
        target.focus();
      }
    } catch (e) {
      if (status) fill(status, e.message);
    } finally {
      more.disabled = false;
    }
  });
  return { load };
}
