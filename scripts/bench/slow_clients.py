#!/usr/bin/env python3
"""Slow and idle clients against a running livesale (docs/benchmarks.md, "Slow and idle clients").

    scripts/bench/slow_clients.py idle400   http://127.0.0.1:PORT   # 400 idle sockets, then /healthz
    scripts/bench/slow_clients.py slow2000  http://127.0.0.1:PORT 60 # 2,000 slow heads, chat round trips
    scripts/bench/slow_clients.py idleclose http://127.0.0.1:PORT   # when 100 silent sockets are closed

ADMIN (environment) is the server's --admin-token. Python 3 standard library only; it talks to
the address it is given and nothing else, and every mode ends by itself.
"""
import asyncio, base64, json, os, struct, sys, time, urllib.request

BASE = sys.argv[2]
HOST, PORT = BASE.split("//")[1].split(":")
PORT = int(PORT)
ADMIN = os.environ.get("ADMIN", "adm")


def post(path, body, token=None):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


async def healthz_ms():
    t = time.perf_counter()
    r, w = await asyncio.wait_for(asyncio.open_connection(HOST, PORT), 5)
    w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(r.read(), 5)
    w.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    return (time.perf_counter() - t) * 1000


class Ws:
    async def open(self, path):
        self.r, self.w = await asyncio.open_connection(HOST, PORT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.w.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n".encode())
        head = await self.r.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        hdr = bytes([0x80 | opcode])
        hdr += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
        self.w.write(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    async def recv_text(self):
        while True:
            b0, b1 = await self.r.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", await self.r.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", await self.r.readexactly(8))[0]
            payload = await self.r.readexactly(n)
            op = b0 & 0x0F
            if op == 9:
                self.send(10, payload)
            elif op == 1:
                return payload.decode()
            elif op == 8:
                raise RuntimeError(f"closed {payload[:2].hex()} {payload[2:]}")


async def slow_headers(n, stop):
    """n sockets that send a head slowly, one byte a second, reconnecting when closed."""
    async def one(i):
        while not stop.is_set():
            try:
                r, w = await asyncio.open_connection(HOST, PORT)
                w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                while not stop.is_set():
                    await asyncio.sleep(1)
                    w.write(b"a")
                    await w.drain()
                    if r.at_eof():
                        break
            except (ConnectionError, OSError):
                await asyncio.sleep(0.1)
    return [asyncio.create_task(one(i)) for i in range(n)]


async def bystander(rounds):
    creator = post("/api/creators", {"name": "Bystander"}, ADMIN)
    show = post("/api/shows", {"title": "t"}, creator["token"])
    viewer = post(f"/api/shows/{show['id']}/viewers", {"display_name": "Bea"})
    ws = Ws()
    await ws.open(f"/api/shows/{show['id']}/ws?token={viewer['token']}")
    while '"welcome"' not in await ws.recv_text():
        pass
    times = []
    for i in range(rounds):
        text = f"m{i}"
        t = time.perf_counter()
        ws.send(1, json.dumps({"type": "chat.send", "text": text}).encode())
        while True:
            m = json.loads(await ws.recv_text())
            if m.get("type") == "chat.message" and m.get("text") == text:
                break
        times.append((time.perf_counter() - t) * 1000)
        await asyncio.sleep(1.6)  # under the default chat rate (20 per 30 s)
    times.sort()
    return times


async def main():
    mode = sys.argv[1]
    if mode == "idle400":
        socks = []
        for _ in range(400):
            socks.append(await asyncio.open_connection(HOST, PORT))
        await asyncio.sleep(1)
        ts = [await healthz_ms() for _ in range(20)]
        print(f"400 idle sockets held: /healthz over 20 new connections: max {max(ts):.1f} ms, "
              f"median {sorted(ts)[10]:.1f} ms")
    elif mode == "slow2000":
        stop = asyncio.Event()
        tasks = await slow_headers(2000, stop)
        await asyncio.sleep(3)
        times = await bystander(int(sys.argv[3]) if len(sys.argv) > 3 else 40)
        stop.set()
        p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
        print(f"2000 slow-header sockets: chat round trip n={len(times)} p50 {p(0.5):.1f} ms "
              f"p99 {p(0.99):.1f} ms max {times[-1]:.1f} ms")
        for t in tasks:
            t.cancel()
    elif mode == "idleclose":
        socks = [await asyncio.open_connection(HOST, PORT) for _ in range(100)]
        t = time.perf_counter()
        closed = await asyncio.gather(*(r.read() for r, _ in socks))
        print(f"100 silent sockets all closed after {time.perf_counter() - t:.1f} s")


asyncio.run(main())
