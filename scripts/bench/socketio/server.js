// The Socket.IO 4.8 peer of livesale's live room, for scripts/bench/fanout.sh.
//
// It does what livesale's room does for chat and reactions, the way a Socket.IO app would:
// one room per show (here one show), every chat message broadcast to the whole room (the
// sender included) with an id, author, role, text, time and a room sequence number, and
// reaction taps counted and broadcast as counts once per 250 ms window. Presence (the viewer
// count) is broadcast at most once a second when it changed. It does less than livesale (no
// token check, moderation, rate limits, resume log or chat history), which only favours it.
//
//   node server.js [port]        (PORT env also works; default 3000, listens on 127.0.0.1)
'use strict';

const http = require('http');
const { randomUUID } = require('crypto');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || process.env.PORT || 3000);
const ROOM = 'show';
const KINDS = new Set(['heart', 'fire', 'clap', 'laugh', 'wow', 'cart']);
const WINDOW_MS = 250;
const MAX_CHARS = 500;

const httpServer = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
  maxHttpBufferSize: 4096,
  pingInterval: 20000,
  pingTimeout: 20000,
});

let seq = 0;
let counts = Object.create(null);
let tapped = false;
let viewers = 0;
let presenceSent = -1;

io.on('connection', (socket) => {
  const auth = socket.handshake.auth || {};
  const name = typeof auth.name === 'string' && auth.name.trim() ? auth.name.trim().slice(0, 40) : 'Guest';
  const author = { id: socket.id, name };
  socket.join(ROOM);
  viewers += 1;

  socket.on('chat', (msg) => {
    if (!msg || typeof msg.text !== 'string') return;
    const text = msg.text.trim().slice(0, MAX_CHARS);
    if (!text) return;
    seq += 1;
    io.to(ROOM).emit('chat.message', {
      id: randomUUID(),
      author,
      role: 'viewer',
      text,
      at: new Date().toISOString(),
      seq,
    });
  });

  socket.on('reaction', (r) => {
    if (!r || !KINDS.has(r.kind)) return;
    counts[r.kind] = (counts[r.kind] || 0) + 1;
    tapped = true;
  });

  socket.on('disconnect', () => {
    viewers -= 1;
  });
});

setInterval(() => {
  if (!tapped) return;
  const sent = counts;
  counts = Object.create(null);
  tapped = false;
  seq += 1;
  io.to(ROOM).emit('reactions', { counts: sent, seq });
}, WINDOW_MS);

setInterval(() => {
  if (viewers === presenceSent) return;
  presenceSent = viewers;
  seq += 1;
  io.to(ROOM).emit('presence', { viewers, seq });
}, 1000);

httpServer.listen(port, '127.0.0.1', () => {
  console.log(`socket.io ${require('socket.io/package.json').version} listening on 127.0.0.1:${port}`);
});

const stop = () => {
  io.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
