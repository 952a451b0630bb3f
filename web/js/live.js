// The live room over WebSocket (docs/protocol.md): one connection that reconnects by itself
// and resumes from the last applied seq, so a page loses nothing across a network drop.
//
//   const room = new LiveRoom(showId, () => token);
//   room.on(Frame.WELCOME, (w) => …);        // first connection, and a resync
//   room.on(Frame.CHAT_MESSAGE, (m) => …);   // any server frame type (protocol.js)
//   room.onState(({state, code, reason}) => …); // Conn: connecting | open | reconnecting | closed
//   room.connect(); room.send({type: Command.CHAT_SEND, text});
//
// Frames with a seq already applied are dropped here (protocol: "clients ignore any frame
// whose seq they have already applied"). A resumed connection sends no welcome; a resync
// welcome (`resync: true`) means the page rebuilds its state from it.

import { Frame, Close, Conn, PING_FRAME } from './protocol.js';
import { finalCloseWords } from './feature/errors.js';

/** LiveRoom's own event for its connection state (not a frame type). */
const STATE = 'state';

export class LiveRoom {
  constructor(showId, tokenFn = () => null, { pingMs = 10000, pongTimeoutMs = 6000 } = {}) {
    this.showId = showId;
    this.tokenFn = tokenFn;
    this.lastSeq = null;
    this.ws = null;
    this.state = 'idle';
    this.handlers = new Map();
    this.attempt = 0;
    this.pingMs = pingMs;
    this.pongTimeoutMs = pongTimeoutMs;
    this.timers = {};
    this.stopped = false;
    this.outbox = [];
    addEventListener('online', () => this.state === Conn.RECONNECTING && this.reconnectNow());
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    return this;
  }

  /** `fn({state, code, reason, message, inMs})` on every change of the connection's state. */
  onState(fn) {
    return this.on(STATE, fn);
  }

  emit(type, data) {
    for (const fn of this.handlers.get(type) || []) {
      try { fn(data); } catch (e) { console.error(`live room handler for ${type}`, e); }
    }
    for (const fn of this.handlers.get('*') || []) {
      try { fn(data); } catch (e) { console.error('live room handler', e); }
    }
  }

  setState(state, extra = {}) {
    this.state = state;
    this.emit(STATE, { state, ...extra });
  }

  url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ v: '1' });
    const token = this.tokenFn();
    if (token) q.set('token', token);
    if (this.lastSeq !== null) q.set('last_seq', String(this.lastSeq));
    return `${proto}//${location.host}/api/shows/${this.showId}/ws?${q}`;
  }

  /** Connects (again). Call once; reconnects happen by themselves. */
  connect() {
    this.stopped = false;
    clearTimeout(this.timers.retry);
    this.setState(this.attempt === 0 && this.lastSeq === null ? Conn.CONNECTING : Conn.RECONNECTING);
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.attempt = 0;
      this.setState(Conn.OPEN);
      this.startPing();
      for (const msg of this.outbox.splice(0)) ws.send(JSON.stringify(msg));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      if (frame.type === Frame.WELCOME) {
        this.lastSeq = frame.seq;
        this.emit(Frame.WELCOME, frame);
        return;
      }
      if (typeof frame.seq === 'number') {
        if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
        this.lastSeq = frame.seq;
      }
      this.emit(frame.type, frame);
    };
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.stopPing();
      this.ws = null;
      if (this.stopped) {
        this.setState(Conn.CLOSED, { code: ev.code, reason: ev.reason });
        return;
      }
      const final = finalCloseWords(ev.code);
      if (final) {
        this.stopped = true;
        this.setState(Conn.CLOSED, { code: ev.code, reason: ev.reason, message: final });
        return;
      }
      this.scheduleReconnect(ev.code, ev.reason);
    };
    ws.onerror = () => { /* onclose follows and decides */ };
  }

  scheduleReconnect(code, reason) {
    this.attempt += 1;
    // 0.5 s, 1 s, 2 s … up to 10 s, with jitter so a crowd does not come back in one instant.
    const base = Math.min(10000, 500 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = base / 2 + Math.random() * base / 2;
    this.setState(Conn.RECONNECTING, { code, reason, inMs: Math.round(delay) });
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    clearTimeout(this.timers.retry);
    this.connect();
  }

  startPing() {
    this.stopPing();
    this.lastHeard = Date.now();
    this.timers.ping = setInterval(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      // Nothing heard for a ping and a timeout: the network is gone even if the socket does
      // not know it yet. Drop it and resume on a new one.
      if (Date.now() - this.lastHeard > this.pingMs + this.pongTimeoutMs) {
        this.drop();
        return;
      }
      this.ws.send(PING_FRAME);
    }, this.pingMs);
  }

  stopPing() {
    clearInterval(this.timers.ping);
  }

  /** Drops the current socket as if the network had; the room reconnects and resumes. */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.stopPing();
    try { ws.close(); } catch { /* already closing */ }
    this.scheduleReconnect(Close.ABNORMAL, 'connection lost');
  }

  /** Sends a client frame; while reconnecting it waits in a short outbox (at most 20). */
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(msg));
      return true;
    }
    if (this.outbox.length < 20) this.outbox.push(msg);
    return false;
  }

  /** Reconnects with a new token (a guest who just picked a name), keeping the seq. */
  reauthenticate() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      this.stopPing();
      try { ws.close(Close.NORMAL, 'new identity'); } catch { /* closing */ }
    }
    // A new identity needs a new welcome (role, you, standing): start without last_seq.
    this.lastSeq = null;
    this.attempt = 0;
    this.connect();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timers.retry);
    this.stopPing();
    if (this.ws) this.ws.close(Close.NORMAL, 'page closed');
  }
}
