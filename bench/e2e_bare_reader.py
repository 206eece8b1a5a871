"""A bare greenswitch loop: connect to an Event Socket server with greenswitch's
``InboundESL``, subscribe like the connector, read and parse every event, count
them, nothing else. The yardstick for the connector's ingest cost.

greenswitch's own framing and loop (``receive_events`` reads header lines
with ``readline`` and bodies by Content-Length, ``process_events`` hands each
event to the handler), with a full JSON decode of each ``text/event-json``
body (the least any consumer of the JSON format does): ``--decoder json``
(the standard library's ``json.loads``) or ``--decoder orjson`` (the decoder
the connector itself uses, so that the comparison measures what the
connector adds to reading and decoding, not which decoder it picked).
greenswitch 0.0.19 cannot read JSON events as it is: ``ESLEvent.parse_data``
URL-decodes the body and splits it into ``Key: value`` lines, and a JSON body
has none, so the reader greenlet dies on the first event (``AttributeError:
'NoneType' object has no attribute 'strip'``).

greenswitch's event queue is unbounded: against a source that sends flat out,
its reader greenlet decodes most of the stream into memory before the handler
greenlet gets a turn (1.1-1.3 GiB for 48,000 of these events). ``--queue N``
bounds it as the connector bounds its own (``EventSocketClient``'s
``queue_size``, 10,000 events), so both hold at most as many decoded events;
the CPU per event is the same either way (within the machine's noise).

Prints ``{"event": "connected"}`` once subscribed, then, after ``--events``
events (or at EOF on stdin), ``{"event": "counted", "events": N, "seconds": ...,
"cpu_s": ...}`` from the first event to the last.

    python bench/e2e_bare_reader.py --port 8021 --events 80000 --decoder orjson --queue 10000
"""

from gevent import monkey

monkey.patch_all()

import argparse
import json
import resource
import sys
import time

import gevent
import gevent.event
import gevent.queue
import orjson
from greenswitch.esl import InboundESL

EVENTS = ("CHANNEL_CREATE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_ANSWER CHANNEL_BRIDGE "
          "CHANNEL_UNBRIDGE CHANNEL_HANGUP_COMPLETE RECORD_START RECORD_STOP BACKGROUND_JOB HEARTBEAT "
          "CUSTOM sofia::register sofia::unregister sofia::expire")
DECODERS = {"json": json.loads, "orjson": orjson.loads}


class JsonInboundESL(InboundESL):
    """greenswitch, with JSON event bodies decoded by ``decode``."""

    def __init__(self, host, port, password, decode, queue_size: int = 0):
        super().__init__(host, port, password)
        self.decode = decode
        if queue_size:
            self._esl_event_queue = gevent.queue.Queue(maxsize=queue_size)

    def handle_event(self, event):
        if event.headers.get("Content-Type") == "text/event-json":
            data = self._read_socket(self.sock_file, int(event.headers["Content-Length"]))
            event.headers.update(self.decode(data))
            self._esl_event_queue.put(event)
        else:
            super().handle_event(event)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--password", default="ClueCon")
    parser.add_argument("--events", type=int, default=0, help="stop after this many events (0: at stdin EOF)")
    parser.add_argument("--decoder", choices=sorted(DECODERS), default="json", help="the JSON decoder")
    parser.add_argument("--queue", type=int, default=0, help="bound greenswitch's event queue (0: unbounded)")
    args = parser.parse_args()
    esl = JsonInboundESL("127.0.0.1", args.port, args.password, DECODERS[args.decoder], args.queue)
    state = {"n": 0, "first": 0.0, "cpu0": 0.0, "last": 0.0, "cpu1": 0.0}
    done = gevent.event.Event()

    def count(event):
        if event.headers.get("Event-Name") == "HEARTBEAT":
            return
        if state["n"] == 0:
            state["first"], state["cpu0"] = time.time(), cpu_seconds()
        state["n"] += 1
        if state["n"] == args.events:
            state["last"], state["cpu1"] = time.time(), cpu_seconds()
            done.set()

    esl.register_handle("*", count)
    esl.connect()
    esl.send(f"event json {EVENTS}")
    print(json.dumps({"event": "connected"}), flush=True)
    if args.events:
        done.wait()
    else:
        gevent.get_hub().threadpool.spawn(sys.stdin.read).get()
        state["last"], state["cpu1"] = time.time(), cpu_seconds()
    print(json.dumps({"event": "counted", "events": state["n"], "seconds": round(state["last"] - state["first"], 4),
                      "cpu_s": round(state["cpu1"] - state["cpu0"], 4),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}),
          flush=True)


if __name__ == "__main__":
    main()
