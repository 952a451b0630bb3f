#!/usr/bin/python3
# gst-launch-1.0 -e with loopback ICE, for scripts/bench/hls.sh and the tests (tests/common/gst.rs
# includes this file; tests/hls_cache.rs runs it): the pipeline description comes as arguments;
# every webrtcbin's ICE agent gets 127.0.0.1 as a local address before the pipeline plays
# (libnice leaves loopback out of its host candidates whenever the machine has another
# interface, and a server bound to 127.0.0.1 answers only there); SIGINT or SIGTERM sends EOS
# (whipsink then DELETEs its session) and an error exits 1. Needs Debian's python3-gi and
# gir1.2-gstreamer-1.0.
import signal, sys
import gi
gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst

Gst.init(None)
pipeline = Gst.parse_launch(" ".join(sys.argv[1:]))
agents = []
it = pipeline.iterate_recurse()
while True:
    ok, element = it.next()
    if ok != Gst.IteratorResult.OK:
        break
    factory = element.get_factory()
    if factory is not None and factory.get_name() == "webrtcbin":
        agent = element.get_property("ice-agent")
        agent.emit("add-local-ip-address", "127.0.0.1")
        # No UPnP port mapping: nothing but the server on loopback is ever asked anything.
        agent.get_property("agent").set_property("upnp", False)
        # Kept referenced for the pipeline's life: PyGObject drops a reference it does not own.
        agents.append(agent)
print("loopback ICE on %d webrtcbin" % len(agents), file=sys.stderr, flush=True)

loop = GLib.MainLoop()
status = 0

def on_message(bus, message):
    global status
    if message.type == Gst.MessageType.ERROR:
        err, debug = message.parse_error()
        print("ERROR: from element %s: %s\n%s" % (message.src.get_path_string(), err.message, debug),
              file=sys.stderr, flush=True)
        status = 1
        loop.quit()
    elif message.type == Gst.MessageType.EOS:
        print("EOS", file=sys.stderr, flush=True)
        loop.quit()
    elif message.type == Gst.MessageType.STATE_CHANGED and message.src == pipeline:
        old, new, _ = message.parse_state_changed()
        print("pipeline %s -> %s" % (old.value_nick, new.value_nick), file=sys.stderr, flush=True)

def on_sigint():
    # Like gst-launch-1.0 -e: EOS first, so whipsink/whepsrc end their sessions (DELETE).
    pipeline.send_event(Gst.Event.new_eos())
    GLib.timeout_add_seconds(3, loop.quit)
    return GLib.SOURCE_REMOVE

bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, on_sigint)
GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, on_sigint)
if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
    sys.exit("the pipeline refused to play")
loop.run()
pipeline.set_state(Gst.State.NULL)
sys.exit(status)
