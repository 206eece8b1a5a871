"""The connector side of the TUI's nodes test, in its own process (gevent
there, Textual's asyncio in pytest's): two simulated FreeSWITCH nodes ``a``
and ``b`` (tests/nodes_harness.py), 101 registered on both, 102 on ``a``.

Prints one JSON line ({"api": URL, "token": ...}) when ready; then reads
commands, one JSON object a line, on its standard input:

    {"do": "stop", "node": "b"}    that node's FreeSWITCH goes away
    {"do": "call", "node": "a", "ring": "101"}   a PSTN call rings it there, answered, long

Stops on SIGTERM or when its standard input closes (pytest is gone).

    python tests/nodes_backend.py DB_PATH
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.fileobject import FileObjectPosix  # noqa: E402
from nodes_harness import TOKEN, TwoNodes  # noqa: E402


def run_command(nodes: TwoNodes, command: dict) -> None:
    sim = nodes.sims[command["node"]]
    if command["do"] == "stop":
        sim.stop()
    elif command["do"] == "call":
        sim.pbx.configure(command["ring"], answer_after=0.5, talk_time=3600.0)
        sim.pbx.inbound_call(ring=[command["ring"]])


def read_commands(nodes: TwoNodes, stop: Event) -> None:
    stdin = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
    for line in stdin:
        if line.strip():
            run_command(nodes, json.loads(line))
    stop.set()  # EOF: the test process is gone


def main(db_path: str) -> None:
    nodes = TwoNodes(f"sqlite:///{db_path}", cdrs=False)
    nodes.register("a", "101", "102")
    nodes.register("b", "101")
    stop = Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.spawn(read_commands, nodes, stop)
    print(json.dumps({"api": nodes.url, "token": TOKEN}), flush=True)
    try:
        stop.wait()
    finally:
        nodes.stop()


if __name__ == "__main__":
    main(sys.argv[1])
