#!/usr/bin/env python3
"""The checkout's added latency with Stripe in the loop, against localstripe.

    scripts/bench/stripe_checkout.py                 300 checkouts per mode
    scripts/bench/stripe_checkout.py --buyers N --no-record

Two release servers on the memory store run side by side: one with the built-in test provider
(`--payments approve`, the checkout settles at once) and one with `--payments stripe` pointed at
a private localstripe (tests/localstripe/serve.py: 127.0.0.1, state in memory). Each buyer has
one unit in the cart and checks out once; the two modes alternate buyer by buyer, one request
at a time, so both see the same machine at the same moment. A Stripe checkout makes three
calls to Stripe (a Customer for a new buyer, the buyer's saved cards, the PaymentIntent); the
same three calls are timed straight against localstripe, alternating with the rest, so

    livesale's share = Stripe checkout - the three Stripe calls

is what livesale adds around Stripe (reservation, the order's payment record, JSON), against
the approve checkout as the baseline. localstripe is Python and much slower than Stripe's
API, which is why its own time is measured and taken out rather than compared.

Needs target/release/livesale (`cargo build --release`) and the localstripe venv
(scripts/test.sh makes target/localstripe-venv; `--python` names another). Traffic stays on
loopback. Appends the result to docs/benchmarks.md unless --no-record.
"""

import argparse
import datetime
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ADMIN = "bench-admin"
SECRET = "bench-secret-0123456789abcdef0123"
SK = "sk_test_livesale_bench"
WHSEC = "whsec_livesale_bench"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_CONNECTIONS = {}


def call(base, method, path, token=None, body=None, headers=None, form=None):
    """(status, parsed JSON body, seconds), over one kept-alive connection per base (as the
    server's own HTTP client keeps its connection to Stripe), so no timing includes a connect."""
    data = None
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    for attempt in (1, 2):
        conn = _CONNECTIONS.get(base)
        if conn is None:
            host, port = urllib.parse.urlsplit(base).netloc.split(":")
            conn = _CONNECTIONS[base] = http.client.HTTPConnection(host, int(port), timeout=30)
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw, status = r.read(), r.status
            break
        except (http.client.HTTPException, OSError):
            conn.close()
            _CONNECTIONS.pop(base, None)
            if attempt == 2:
                raise
    took = time.perf_counter() - t0
    return status, (json.loads(raw) if raw else None), took


def must(got, want, what):
    if got[0] != want:
        sys.exit(f"stripe_checkout: {what}: {got[0]} {got[1]}")
    return got[1]


def start_server(binary, port, extra_env):
    env = dict(os.environ)
    env.update({
        "LIVESALE_BIND": f"127.0.0.1:{port}", "LIVESALE_SECRET": SECRET,
        "LIVESALE_ADMIN_TOKEN": ADMIN, "LIVESALE_NO_DEMO": "true", "LIVESALE_JOIN_RATE": "0",
        "LIVESALE_DEAL_BUYERS_PER_ADDRESS": "0", "LIVESALE_WS_MAX_PER_ADDRESS": "0",
        "RUST_LOG": "warn",
    })
    env.pop("REDIS_URL", None)
    env.update(extra_env)
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if call(base, "GET", "/healthz")[0] == 200:
                return proc, base
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"stripe_checkout: {binary} did not start on {port}")


def shop(base, buyers):
    """A live show with one product of `buyers` units; a token per buyer with one in the cart."""
    creator = must(call(base, "POST", "/api/creators", ADMIN, {"name": "Bench"}), 201, "creator")["token"]
    show = must(call(base, "POST", "/api/shows", creator, {"title": "Bench"}), 201, "show")["id"]
    must(call(base, "POST", f"/api/shows/{show}/start", creator, {}), 200, "start")
    product = must(call(base, "POST", "/api/products", creator, {
        "sku": "B1", "title": "Mug", "price": {"amount": 2500, "currency": "USD"}, "stock": buyers,
    }), 201, "product")["id"]
    must(call(base, "POST", f"/api/shows/{show}/lineup", creator, {"product_id": product}), 200, "lineup")
    tokens = []
    for i in range(buyers):
        token = must(call(base, "POST", f"/api/shows/{show}/viewers", None, {"display_name": f"B{i}"}), 201, "join")["token"]
        must(call(base, "PUT", f"/api/shows/{show}/cart/items/{product}", token, {"quantity": 1}), 200, "cart")
        tokens.append(token)
    return show, tokens


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def row(name, xs):
    ms = [x * 1000 for x in xs]
    return f"| {name} | {pct(ms, 50):.2f} | {pct(ms, 90):.2f} | {pct(ms, 99):.2f} | {statistics.mean(ms):.2f} |"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--buyers", type=int, default=300)
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--server", default=os.path.join(ROOT, "target/release/livesale"))
    ap.add_argument("--python", default=os.path.join(ROOT, "target/localstripe-venv/bin/python"))
    args = ap.parse_args()
    for path, how in ((args.server, "cargo build --release"), (args.python, "scripts/test.sh --setup")):
        if not os.path.exists(path):
            sys.exit(f"stripe_checkout: {path} is missing ({how} makes it)")

    procs = []
    try:
        ls = subprocess.Popen([args.python, os.path.join(ROOT, "tests/localstripe/serve.py")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(ls)
        ls_base = f"http://127.0.0.1:{int(ls.stdout.readline())}"
        approve, approve_base = start_server(args.server, free_port(), {"LIVESALE_PAYMENTS": "approve"})
        procs.append(approve)
        stripe, stripe_base = start_server(args.server, free_port(), {
            "LIVESALE_PAYMENTS": "stripe", "STRIPE_SECRET_KEY": SK, "STRIPE_PUBLISHABLE_KEY": "pk_test_bench",
            "STRIPE_WEBHOOK_SECRET": WHSEC, "LIVESALE_STRIPE_API_BASE": ls_base,
            "LIVESALE_STRIPE_JS_URL": ls_base + "/js.stripe.com/v3/",
        })
        procs.append(stripe)
        a_show, a_tokens = shop(approve_base, args.buyers)
        s_show, s_tokens = shop(stripe_base, args.buyers)
        body = {"email": "bench@example.com", "shipping": {
            "name": "Bench", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}}
        auth = {"Authorization": f"Bearer {SK}"}
        approve_t, stripe_t, direct_t = [], [], []
        for i in range(args.buyers):
            got = call(approve_base, "POST", f"/api/shows/{a_show}/checkout", a_tokens[i], {},
                       {"Idempotency-Key": f"a-{i}"})
            must(got, 201, "approve checkout")
            approve_t.append(got[2])
            got = call(stripe_base, "POST", f"/api/shows/{s_show}/checkout", s_tokens[i], body,
                       {"Idempotency-Key": f"s-{i}"})
            must(got, 201, "stripe checkout")
            stripe_t.append(got[2])
            # The same three Stripe calls, straight to localstripe.
            c = call(ls_base, "POST", "/v1/customers", headers=auth, form={"email": "bench@example.com"})
            customer = must(c, 200, "customer")["id"]
            m = call(ls_base, "GET", f"/v1/payment_methods?customer={customer}&type=card&limit=100", headers=auth)
            p = call(ls_base, "POST", "/v1/payment_intents", headers=auth, form={
                "amount": 2500, "currency": "usd", "payment_method_types[]": "card", "customer": customer,
                "metadata[order_id]": "x", "metadata[show_id]": "y"})
            must(p, 200, "intent")
            direct_t.append(c[2] + m[2] + p[2])
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()

    share = [s - d for s, d in zip(stripe_t, direct_t)]
    lines = [
        "| checkout | p50 ms | p90 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|",
        row("approve (test provider, settles at once)", approve_t),
        row("stripe (localstripe in the loop)", stripe_t),
        row("the three Stripe calls alone, straight to localstripe", direct_t),
        row("livesale's share with Stripe (stripe − the calls, per buyer)", share),
    ]
    print("\n".join(lines))
    if not args.no_record:
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        with open(os.path.join(ROOT, "docs/benchmarks.md"), "a") as f:
            f.write(f"\n### Checkout with Stripe in the loop ({datetime.date.today()}, {rev})\n\n"
                    f"`scripts/bench/stripe_checkout.py --buyers {args.buyers}` on {os.cpu_count()} × {cpu}: "
                    f"{args.buyers} checkouts per mode, one at a time, the modes alternating buyer by "
                    "buyer, release build, memory store.\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
