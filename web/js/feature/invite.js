// A phone as a camera, from the studio: makes a camera invite, shows its link and a QR code of
// it (the server draws the SVG), and copies the link (or selects it where there is no
// clipboard API, as on a plain http address).

import { api } from '../api.js';
import { $, busy, toast } from '../dom.js';
import { Role } from '../protocol.js';

/** Binds the studio's phone form; `call` is the studio's API call. */
export function phoneInvite({ base, call }) {
  let inviteUrl = null;
  let qrUrl = null;

  async function showQr(url) {
    const img = $('#camera-qr');
    const note = $('#qr-note');
    note.hidden = true;
    try {
      const svg = await api('POST', '/api/qr', { body: { text: url } });
      if (qrUrl) URL.revokeObjectURL(qrUrl);
      qrUrl = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
      img.src = qrUrl;
      img.hidden = false;
    } catch (err) {
      img.hidden = true;
      note.textContent = `The QR code could not be made (${err.message}). Send the link to the phone instead.`;
      note.hidden = false;
    }
  }

  $('#phone-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy($('#add-phone'), async () => {
      const label = $('#phone-label').value.trim() || 'Phone';
      const invite = await call('POST', `${base}/invites`, { role: Role.CAMERA, label });
      inviteUrl = invite.url;
      const link = $('#camera-link');
      link.href = invite.url;
      link.textContent = invite.url;
      $('#phone-invite').hidden = false;
      await showQr(invite.url);
      link.focus();
    }, $('#studio-error'));
  });

  $('#copy-camera-link').addEventListener('click', async () => {
    if (!inviteUrl) return;
    try {
      await navigator.clipboard.writeText(inviteUrl);
      toast('Link copied.', 'success');
    } catch {
      // No clipboard API (an http address): select the link so the person can copy it.
      const range = document.createRange();
      range.selectNodeContents($('#camera-link'));
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      toast('Press Ctrl+C (or ⌘C) to copy the selected link.', 'info');
    }
  });
}
