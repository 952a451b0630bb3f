"""localstripe for one test run: 127.0.0.1 only, a free port, state in memory.

Started by tests/common/localstripe.rs with the venv's python. localstripe's own entry point
(`localstripe --port N`) listens on every interface and loads and saves its whole store in
/tmp/localstripe.pickle on every write, so tests would share state with each other and with
anything else on the machine. This binds 127.0.0.1:0 itself, prints the port on the first line
of stdout, turns the Store's disk methods into no-ops before anything runs, and exits when its
stdin closes (the test process ended, even if it was killed before it could stop us).
"""

import os
import socket
import sys
import threading

from localstripe import resources

resources.Store.dump_to_disk = lambda self: None
resources.Store.try_load_from_disk = lambda self: None

from aiohttp import web  # noqa: E402
from localstripe.server import app  # noqa: E402


def exit_when_stdin_closes():
    sys.stdin.buffer.read()
    os._exit(0)


sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
print(sock.getsockname()[1], flush=True)
threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
web.run_app(app, sock=sock, print=None, access_log=None)
