"""Benchmark: click-to-call requests over HTTP keep-alive against a running
connector connected to the FreeSWITCH simulator.

The connector (HTTP API, ESL client, tracker, SQLite storage, the simulator
with ``--extensions`` registered agents) runs in its own process and notes
when the simulator receives each ``bgapi originate`` (``time.perf_counter``:
CLOCK_MONOTONIC, comparable across processes on Linux). Clients are threads
in this process, each with its own ``requests.Session`` (one keep-alive
connection each). Figures: per request, latency from sending the request to
the originate received by "FreeSWITCH" and to the response received, and the
throughput of the whole run. The simulated calls really run (agents answer,
customers are dialled, the tracker follows every channel event), so the
connector does all of its work while the requests come in.

    .venv/bin/python bench/bench_click2call.py
    .venv/bin/python bench/bench_click2call.py --requests 5000 --clients 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "bench-secret"


def serve_simulator(extensions: int, speed: float, nagle: bool) -> None:
    """The "FreeSWITCH" process: prints its address; on stdin EOF prints when
    each originate arrived (callid -> perf_counter) and exits."""
    from gevent import monkey
    monkey.patch_all()
    import socket

    import gevent
    sys.path.insert(0, ROOT)
    from esl_connector.simulator import Simulator

    sim = Simulator(speed=speed, extensions=[str(1000 + i) for i in range(extensions)])
    received: dict[str, float] = {}

    class Stamped(list):
        def append(self, line):
            if line.startswith("bgapi originate {origination_uuid="):
                received[line[len("bgapi originate {origination_uuid="):][:36]] = time.perf_counter()
            super().append(line)

    sim.server.commands_received = Stamped()
    if not nagle:  # as mod_event_socket's listener_run does (SWITCH_SO_TCP_NODELAY)
        handle = sim.server._handle

        def handle_nodelay(sock, address):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return handle(sock, address)
        sim.server._handle = handle_nodelay
    sim.start()
    sim.pbx.register_all()
    print(json.dumps({"address": list(sim.address)}), flush=True)
    gevent.get_hub().threadpool.spawn(sys.stdin.read).get()
    print(json.dumps(received), flush=True)
    sim.stop()


def serve_bare(nagle: bool) -> None:
    """A bare Event Socket server (the ``--bare`` run): answers ``bgapi`` at once,
    then sends its BACKGROUND_JOB ``+OK <uuid>``, and nothing else; so the
    figures are the connector's alone. Same protocol to stdin/stdout as
    ``serve_simulator``."""
    from gevent import monkey
    monkey.patch_all()
    import socket
    import uuid

    import gevent
    from gevent.server import StreamServer
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from esl_fake_server import FakeConnection, api_frame, event_headers, json_event, reply_frame

    received: dict[str, float] = {}

    def handle(sock, _address):
        if not nagle:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = FakeConnection(sock, 0)
        if not conn.handshake("ClueCon"):
            return
        while (command := conn.read_command()) is not None:
            if command.startswith("bgapi originate {origination_uuid="):
                received[command[len("bgapi originate {origination_uuid="):][:36]] = time.perf_counter()
                job = command.split("Job-UUID: ", 1)[1]
                conn.send(reply_frame(f"+OK Job-UUID: {job}", **{"Job-UUID": job}))
                conn.send(json_event(event_headers("BACKGROUND_JOB", **{"Job-UUID": job, "Job-Command": "originate"}),
                                     f"+OK {uuid.uuid4()}\n"))
            elif command.startswith("api "):
                conn.send(api_frame(str(int(time.time())) if command == "api strepoch" else '{"row_count": 0}'))
            elif command == "exit":
                return
            else:
                conn.send(reply_frame("+OK"))

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    print(json.dumps({"address": ["127.0.0.1", server.server_port]}), flush=True)
    gevent.get_hub().threadpool.spawn(sys.stdin.read).get()
    print(json.dumps(received), flush=True)


def serve_connector(host: str, port: int, extensions: int, bare: bool) -> None:
    """The connector process: HTTP API + ESL client + tracker + SQLite; prints
    its URL once every extension is known idle, serves until stdin EOF."""
    from gevent import monkey
    monkey.patch_all()
    import tempfile
    from types import SimpleNamespace

    import gevent
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from esl_connector.api.click2call import Click2CallSettings, routes
    from esl_connector.api.context import ApiContext
    from esl_connector.api.server import HttpApi, HttpServer
    from esl_connector.app import Connector
    from esl_connector.settings.customer_config import parse_customers
    from esl_connector.settings.customers import CustomerDirectory
    from storage import queries

    from connector_harness import connector_settings

    directory = CustomerDirectory(parse_customers([{
        "code": "bench", "domain_crm": "http://127.0.0.1:9", "secret": "crm",
        "extensions": f"1000-{1000 + extensions - 1}",
        "click2call": {"secret": SECRET, "gateway": "pstn", "caller_id_number": "0281234567",
                       "reject_when_busy": False, "reject_when_offline": not bare}}], env={}))
    tmp = tempfile.mkdtemp(prefix="bench-c2c-")
    connector = Connector(connector_settings(os.path.join(tmp, "c.db"), host, port),
                          planner=lambda event, params=None: None).start()
    while not connector.client.connected or (
            not bare and sum(r.state == "idle" for r in queries.list_extensions(connector.db)) < extensions):
        gevent.sleep(0.05)
    limits = Click2CallSettings(customer_rate=1e6, customer_burst=10**6, extension_rate=1e6, extension_burst=10**6)
    timings: list[tuple[float, float, float]] = []   # request in, bgapi called, bgapi replied
    started: dict = {}

    class TimedEsl:
        """The ESL client, noting when the handler hands it the originate."""
        connected = property(lambda self: connector.client.connected)

        def bgapi(self, command, job_uuid=None):
            called = time.perf_counter()
            job = connector.client.bgapi(command, job_uuid=job_uuid)
            timings.append((started.pop(gevent.getcurrent(), called), called, time.perf_counter()))
            return job

    ctx = ApiContext(db=connector.db, esl=TimedEsl(), directory=directory, writer=connector.writer,
                     settings=SimpleNamespace(click2call=limits))
    api = HttpApi(ctx, routes())

    def app(environ, start_response):
        started[gevent.getcurrent()] = time.perf_counter()
        return api(environ, start_response)

    http = HttpServer(app).start()
    print(json.dumps({"url": http.url}), flush=True)
    gevent.get_hub().threadpool.spawn(sys.stdin.read).get()
    print(json.dumps(timings), flush=True)
    http.stop()
    connector.stop()


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_clients(url: str, total: int, clients: int, extensions: int) -> tuple[list[tuple], float]:
    import requests
    results: list[tuple] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def client(n: int) -> None:
        session = requests.Session()
        mine = []
        for i in counter:
            params = {"secret": SECRET, "extension": str(1000 + i % extensions),
                      "phone": f"09{i % 100000000:08d}", "userfield": f"ORDER-{i}", "lead": str(i)}
            t0 = time.perf_counter()
            try:
                r = session.get(f"{url}/wsapi/bench/click2call.php", params=params, timeout=10)
                status, callid = r.status_code, r.json().get("callid", "")
            except (requests.RequestException, ValueError) as exc:
                print(f"request {i} failed: {exc}", file=sys.stderr)
                status, callid = 0, ""
            mine.append((t0, time.perf_counter(), status, callid))
        session.close()
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients")
    parser.add_argument("--extensions", type=int, default=200)
    parser.add_argument("--speed", type=float, default=200.0, help="simulator speed (calls run this much faster)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--simulator-nagle", action="store_true",
                        help="leave Nagle on the simulator's ESL sockets (FreeSWITCH turns it off)")
    parser.add_argument("--bare", action="store_true",
                        help="a bare Event Socket responder instead of the simulator: the connector's own figures")
    parser.add_argument("--serve-simulator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-connector", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_simulator:
        return (serve_bare if args.bare else lambda nagle: serve_simulator(args.extensions, args.speed, nagle))(
            args.simulator_nagle)
    if args.serve_connector:
        return serve_connector(args.serve_connector[0], int(args.serve_connector[1]), args.extensions, args.bare)
    common = [sys.executable, __file__, "--extensions", str(args.extensions), "--speed", str(args.speed)]
    common += ["--bare"] if args.bare else []
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True, "cwd": ROOT}
    sim = subprocess.Popen(common + ["--serve-simulator"] + (["--simulator-nagle"] if args.simulator_nagle else []),
                           **pipes)
    host, port = json.loads(sim.stdout.readline())["address"]
    connector = subprocess.Popen(common + ["--serve-connector", host, str(port)], **pipes)
    try:
        url = json.loads(connector.stdout.readline())["url"]
        run_clients(url, args.warmup, args.clients, args.extensions)
        results, wall = run_clients(url, args.requests, args.clients, args.extensions)
    finally:
        connector.stdin.close()
        timings = json.loads(connector.stdout.readline() or "[]")[-max(1, len(results)):]
        connector.wait(timeout=30)
        sim.stdin.close()
        received = json.loads(sim.stdout.readline() or "{}")
        sim.wait(timeout=30)
    ok = [r for r in results if r[2] == 200]
    to_response = [(t1 - t0) * 1000 for t0, t1, _, _ in ok]
    to_originate = [(received[callid] - t0) * 1000 for t0, _, _, callid in ok if callid in received]
    print(("bare ESL responder" if args.bare else f"simulator x{args.speed:g}") + ": "
          f"{len(results)} requests, {args.clients} keep-alive clients, {args.extensions} extensions: "
          f"{len(ok)} x 200, {len(to_originate)} originates matched")
    print(f"throughput: {len(results) / wall:.0f} requests/s ({wall:.2f} s)")
    in_connector = [(called - arrived) * 1000 for arrived, called, _ in timings]
    bgapi_reply = [(replied - called) * 1000 for _, called, replied in timings]
    for name, values in (("request -> originate received by FreeSWITCH", to_originate),
                         ("request -> response", to_response),
                         ("in the connector: request read -> bgapi written", in_connector),
                         ("bgapi -> +OK Job-UUID (the simulator's reply)", bgapi_reply)):
        print(f"{name}: p50 {percentile(values, 50):.2f} ms, p99 {percentile(values, 99):.2f} ms, "
              f"max {max(values):.2f} ms, mean {statistics.fmean(values):.2f} ms" if values else f"{name}: -")


if __name__ == "__main__":
    main()
