"""Benchmark: the delivery engine, outbox (SQLite) -> HTTP -> a local receiver.

The receiver runs in its own process (a gevent WSGI server with TCP_NODELAY,
as real web servers set it) and notes when each event id arrives. Two runs:

* backlog: ``--events`` rows already in the outbox, engine started: deliveries/s;
* stream: events committed through the StorageWriter at ``--rate`` per second
  (one incoming_call + one call_answered per call, the log held back until its
  call's event is delivered), engine woken by ``on_commit``: p50/p99/max latency
  from the outbox row's creation (submit) to the request received.

Both use keep-alive sessions; it prints the number of TCP connections used.

    .venv/bin/python bench/bench_delivery.py
    .venv/bin/python bench/bench_delivery.py --events 20000 --rate 500 --per-endpoint 8
"""

from gevent import monkey

monkey.patch_all()

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

import gevent

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from esl_connector.delivery.engine import DeliveryEngine
from esl_connector.delivery.types import DeliveryPlan, WebhookRequest
from esl_connector.records import CALL_LOG, INCOMING_CALL, Changes, CrmEvent
from esl_connector.settings.customers import SINGLE
from storage import StorageWriter, migrate, open_database, queries
from storage.batch import write_batch
from storage.rows import Batch, outbox_row


def serve(port_file: str) -> None:
    """The receiver process: GET/POST anything -> 200; GET /__stats -> arrivals."""
    from gevent.pywsgi import WSGIServer
    arrivals, ports = {}, set()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/__stats":
            body = json.dumps({"arrivals": arrivals, "connections": len(ports)}).encode()
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length:
                environ["wsgi.input"].read(length)
            arrivals[environ.get("HTTP_X_EVENT_ID", "")] = time.time()
            ports.add(environ.get("REMOTE_PORT"))
            body = b'{"status":"success"}'
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    class NoDelay(WSGIServer):
        def handle(self, sock, address):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return super().handle(sock, address)

    server = NoDelay(("127.0.0.1", 0), app, log=None)
    server.start()
    with open(port_file, "w") as f:
        f.write(str(server.server_port))
    gevent.wait()


def start_receiver():
    port_file = tempfile.mktemp()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", port_file])
    while not os.path.exists(port_file) or not open(port_file).read():
        time.sleep(0.05)
    return proc, f"http://127.0.0.1:{int(open(port_file).read())}"


def planner(base: str):
    def plan_for(event, call_params):
        url = f"{base}/wsapi/bench/{event.event_type}"
        headers = {"X-Event-Id": event.event_id}
        if event.event_type == CALL_LOG:
            request = WebhookRequest("POST", url + "?secret=s3cret", url + "?secret=***",
                                     headers={**headers, "Content-Type": "application/json"},
                                     body=json.dumps(event.params).encode(), endpoint=base)
        else:
            request = WebhookRequest("GET", url, url + "?secret=***", endpoint=base,
                                     params={"secret": "s3cret", **event.params}, headers=headers)
        return DeliveryPlan(event.event_id, "bench", SINGLE, [request])
    return plan_for


def call_events(n: int) -> list[CrmEvent]:
    callid = f"bench-{n:08d}"
    return [CrmEvent(INCOMING_CALL, callid, "101", "pbx", {"phone": "0901234567",
                                                           "extension": "101", "callid": callid}, 0),
            CrmEvent(CALL_LOG, callid, "101", "pbx", {"callid": callid, "calldate": "2024-01-01 10:00:00",
                                                      "extension": "101", "phone": "0901234567",
                                                      "duration": 23, "billsec": 11,
                                                      "status": "ANSWERED", "recording": "",
                                                      "userfield": ""}, 0)]


def stats(base: str) -> dict:
    import requests
    return requests.get(base + "/__stats", timeout=30).json()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else 0.0


def wait_delivered(db, engine, total: int, timeout: float = 600) -> None:
    """Until the engine has recorded ``total`` deliveries (its counter: a count
    query over the outbox every few ms would cost more CPU than the deliveries)."""
    deadline = time.monotonic() + timeout
    while engine.status().delivered < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {queries.outbox_counts(db)}")
        gevent.sleep(0.05)


def run_backlog(args, base: str) -> None:
    db = open_database(os.path.join(tempfile.mkdtemp(), "backlog.db"))
    migrate(db)
    total = args.events // 2 * 2
    for first in range(0, total // 2, 2500):
        rows = [outbox_row(e, time.time())
                for n in range(first, min(first + 2500, total // 2)) for e in call_events(n)]
        write_batch(db, Batch(events=rows))
    db.close()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine = DeliveryEngine(db, planner(base), workers=args.workers, per_endpoint=args.per_endpoint)
    started, cpu = time.monotonic(), time.process_time()
    engine.start()
    wait_delivered(db, engine, total)
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    engine.stop()
    print(f"backlog: {total} events in {elapsed:.2f} s = {total / elapsed:,.0f} "
          f"deliveries/s, CPU {cpu / total * 1e6:.0f} us per delivery "
          f"(workers {args.workers}, per endpoint {args.per_endpoint}), "
          f"{stats(base)['connections']} connections; peak RSS {rss_before:.0f} MiB before "
          f"the engine started, {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} "
          f"MiB after")


def run_stream(args, base: str) -> None:
    db = open_database(os.path.join(tempfile.mkdtemp(), "stream.db"))
    migrate(db)
    engine = DeliveryEngine(db, planner(base), workers=args.workers, per_endpoint=args.per_endpoint)
    writer = StorageWriter(db, commit_window=args.commit_window, on_commit=engine.wake)
    writer.start()
    engine.start()
    calls = int(args.rate * args.duration / 2)
    started, cpu = time.monotonic(), time.process_time()
    for n in range(calls):
        writer.submit(Changes(crm_events=call_events(n)[:1]))
        writer.submit(Changes(crm_events=call_events(n)[1:]))
        gevent.sleep(max(0.0, started + (n + 1) * 2 / args.rate - time.monotonic()))
    writer.flush()
    wait_delivered(db, engine, calls * 2)
    cpu = time.process_time() - cpu
    arrivals = stats(base)["arrivals"]
    rows = queries.list_outbox(db, limit=calls * 2)
    latencies = {INCOMING_CALL: [], CALL_LOG: []}
    for row in rows:
        latencies[row.event_type].append((arrivals[row.event_id] - row.created_at) * 1000)
    writer.stop()
    engine.stop()
    for kind, values in latencies.items():
        print(f"stream {args.rate:.0f} events/s, {kind:<13}: p50 {percentile(values, 50):6.1f} ms  "
              f"p99 {percentile(values, 99):6.1f} ms  max {max(values):6.1f} ms  "
              f"(commit_window {args.commit_window * 1000:.0f} ms included)")
    print(f"stream: CPU {cpu / (calls * 2) * 1e6:.0f} us per event written and delivered")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s in the stream run")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--per-endpoint", type=int, default=4)
    parser.add_argument("--commit-window", type=float, default=0.2)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)
    proc, base = start_receiver()
    try:
        run_backlog(args, base)
        run_stream(args, base)
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
