"""Benchmark: a CRM that goes down and comes back. How long after its return
is the backlog delivered, in order per call, without duplicates?

The CRM is a receiver in **another process**, killed (SIGKILL: connections
reset, as a crashed or restarted CRM does) and started again on the same port.
Every request it receives is appended to a file at once, so nothing is lost
with the process.

* traffic (default): the connector (app.Connector: writer, engine, settings)
  and the FreeSWITCH simulator generating calls (``--calls-per-second`` at
  ``--speed``); the CRM is down for ``--outage`` seconds. Measured: webhooks
  queued at the CRM's return, time from the return until every row created
  before it is delivered. ``--flap 2``: down 2 s, up 2 s, ... for ``--outage``.
* backlog (``--backlog-calls N``): the delivery engine alone, N calls (start
  event + call log) queued while the CRM is down (an hour at 5 calls/s is
  18 000); then the CRM returns. Measured: time to an empty backlog, and the
  most requests the CRM saw at once (at most ``per_endpoint_concurrency``).

``--failure-threshold 1000`` keeps an endpoint from ever being marked down in
these runs: the behaviour before endpoint health (each row on its own retry
schedule), for comparison.

    .venv/bin/python bench/bench_outage.py                       # 2 calls/s x5, 30 s outage
    .venv/bin/python bench/bench_outage.py --failure-threshold 1000 --give-up 400
    .venv/bin/python bench/bench_outage.py --flap 2 --outage 40
    .venv/bin/python bench/bench_outage.py --backlog-calls 18000
"""

from gevent import monkey

monkey.patch_all()

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from urllib.parse import parse_qsl

import gevent

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from esl_connector.app import Connector
from esl_connector.delivery.engine import DeliveryEngine
from esl_connector.delivery.health import HealthPolicy
from esl_connector.delivery.types import DeliveryPlan, WebhookRequest
from esl_connector.records import CALL_LOG, INCOMING_CALL, CrmEvent
from esl_connector.settings.config import settings_from_dict
from esl_connector.settings.customers import SINGLE
from esl_connector.simulator import Simulator, run_traffic
from storage import migrate, open_database
from storage.batch import write_batch
from storage.db import connected
from storage.models import OUTBOX_DUE, OutboxEvent
from storage.rows import Batch, outbox_row


def serve(port: int, log_path: str) -> None:
    """The CRM process: 200 to everything; one line per request in ``log_path``."""
    from gevent.pywsgi import WSGIServer
    out = open(log_path, "a", buffering=1)
    busy = [0]

    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
        callid = query.get("callid") or (json.loads(body).get("callid") if body else "")
        busy[0] += 1
        out.write(json.dumps([environ.get("HTTP_X_EVENT_ID", ""), environ["PATH_INFO"].rsplit("/", 1)[-1],
                              callid, time.time(), busy[0]]) + "\n")
        gevent.sleep(0)  # let requests that arrived together overlap, to count them
        busy[0] -= 1
        reply = b'{"status":"success"}'
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(reply)))])
        return [reply]

    class NoDelay(WSGIServer):
        def handle(self, sock, address):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return super().handle(sock, address)

    NoDelay(("127.0.0.1", port), app, log=None).serve_forever()


class Crm:
    def __init__(self, log_path: str):
        self.log_path = log_path
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", str(self.port), self.log_path])
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.02)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def requests(self) -> list:
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]


def due_created_before(db, moment: float) -> int:
    with connected(db):
        return (OutboxEvent.select().where(OutboxEvent.status.in_(OUTBOX_DUE),
                                           OutboxEvent.created_at <= moment).count())


def wait_drained(db, moment: float, timeout: float) -> float | None:
    """Seconds until no row created before ``moment`` is due (None: timeout)."""
    started = time.monotonic()
    while due_created_before(db, moment):  # a COUNT on the hub's thread: not too often
        if time.monotonic() - started > timeout:
            return None
        gevent.sleep(0.05 if time.monotonic() - started < 10 else 0.5)
    return time.monotonic() - started


def check(crm: Crm, created: dict[str, float]) -> str:
    """``created``: event id -> the outbox row's created_at."""
    seen = crm.requests()
    counts = Counter(line[0] for line in seen)
    missing = set(created) - set(counts)
    first = {}
    for event_id, _, _, at, _ in seen:
        first.setdefault(event_id, at)
    lags = sorted(first[e] - created[e] for e in created if e in first)
    lag = (f"creation -> CRM p50 {lags[len(lags) // 2]:.2f} s, p99 {lags[int(len(lags) * 0.99)]:.2f} s, "
           f"max {lags[-1]:.2f} s; " if lags else "")
    log_at, start_at = {}, {}
    for i, (_, kind, callid, _, _) in enumerate(seen):
        if kind == CALL_LOG:
            log_at.setdefault(callid, i)
        else:
            start_at[callid] = max(start_at.get(callid, -1), i)
    out_of_order = sum(1 for callid, i in log_at.items() if start_at.get(callid, -1) > i)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    return (f"{lag}{len(counts)} events received, {len(missing)} missing, {duplicates} received twice, "
            f"{out_of_order} call logs before their start event; "
            f"at most {max((line[4] for line in seen), default=0)} requests at once")


def run_traffic_outage(args, crm: Crm) -> None:
    extensions = [str(n) for n in range(101, 151)]
    sim = Simulator(speed=args.speed, extensions=extensions).start()
    host, port = sim.address
    workdir = tempfile.mkdtemp()
    settings = settings_from_dict({
        "freeswitch": {"host": host, "port": port, "password": "ClueCon", "resync_delay": 0.0},
        "storage": {"url": f"sqlite:///{workdir}/outage.db"},
        "http": {"port": 0},
        "delivery": {"failure_threshold": args.failure_threshold},
        "customers": [{"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "101-150"}],
    }, env={})
    connector = Connector(settings).start()
    while not connector.resyncs:
        gevent.sleep(0.05)
    traffic = gevent.spawn(run_traffic, sim.pbx, args.calls_per_second, extensions, None, 7)
    gevent.sleep(args.warmup)
    down_at = time.time()
    while time.time() - down_at < args.outage - args.flap:  # --flap: up and down by turns
        crm.kill()
        gevent.sleep(args.flap or args.outage)
        if args.flap:
            crm.start()
            gevent.sleep(args.flap)
    if not args.flap:
        crm.start()
    back_at = time.time()
    queued = due_created_before(connector.db, back_at)
    took = wait_drained(connector.db, back_at, args.give_up)
    traffic.kill()
    gevent.sleep(args.settle)
    connector.writer.flush()
    wait_drained(connector.db, time.time(), 120)
    with connected(connector.db):
        ids = dict(OutboxEvent.select(OutboxEvent.event_id, OutboxEvent.created_at).tuples())
    connector.stop()
    sim.stop()
    drained = f"{took:.1f} s" if took is not None else f"NOT within {args.give_up:.0f} s"
    how = f"flapping every {args.flap:g} s for" if args.flap else "down"
    print(f"traffic {args.calls_per_second:g} calls/s x{args.speed:g}, CRM {how} {back_at - down_at:.1f} s, "
          f"failure_threshold {args.failure_threshold}: {queued} webhooks queued at its return, "
          f"all delivered {drained} after it")
    print("  " + check(crm, ids))


def bench_plan(base: str):
    def plan_for(event, call_params):
        url = f"{base}/wsapi/bench/{event.event_type}"
        headers = {"X-Event-Id": event.event_id}
        if event.event_type == CALL_LOG:
            request = WebhookRequest("POST", url, url, headers={**headers, "Content-Type": "application/json"},
                                     body=json.dumps(event.params).encode(), endpoint=base)
        else:
            request = WebhookRequest("GET", url, url, params=dict(event.params), headers=headers, endpoint=base)
        return DeliveryPlan(event.event_id, "bench", SINGLE, [request])
    return plan_for


def run_backlog_outage(args, crm: Crm) -> None:
    db = open_database(os.path.join(tempfile.mkdtemp(), "backlog.db"))
    migrate(db)
    crm.kill()
    engine = DeliveryEngine(db, bench_plan(crm.url), per_endpoint=args.per_endpoint,
                            health=HealthPolicy(failure_threshold=args.failure_threshold)).start()
    for first in range(0, args.backlog_calls, 2500):
        rows = []
        for n in range(first, min(first + 2500, args.backlog_calls)):
            callid = f"bench-{n:08d}"
            params = {"phone": "0901234567", "extension": "101", "callid": callid}
            rows += [outbox_row(CrmEvent(INCOMING_CALL, callid, "101", "pbx", params, 0), time.time()),
                     outbox_row(CrmEvent(CALL_LOG, callid, "101", "pbx", {**params, "duration": 23}, 0),
                                time.time())]
        write_batch(db, Batch(events=rows))
        engine.wake()
        gevent.sleep(0.2)
    db.close()
    gevent.sleep(args.outage)  # the engine probes meanwhile
    states = [e["state"] for e in engine.status().endpoints]
    crm.start()
    back_at = time.time()
    queued = due_created_before(db, back_at)
    while engine.status().endpoints[0]["state"] != "healthy":
        gevent.sleep(0.01)
    probed = time.time() - back_at
    took = wait_drained(db, back_at, args.give_up)
    with connected(db):
        ids = dict(OutboxEvent.select(OutboxEvent.event_id, OutboxEvent.created_at).tuples())
    engine.stop()
    drained = (f"{took + probed:.1f} s ({probed:.1f} s to the first probe answered, then "
               f"{queued / took:,.0f}/s)" if took else f"NOT within {args.give_up:.0f} s")
    print(f"backlog of {args.backlog_calls} calls, endpoint {states} at the return, per endpoint "
          f"{args.per_endpoint}: {queued} webhooks queued, all delivered {drained} after it")
    print("  " + check(crm, ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--calls-per-second", type=float, default=2.0)
    parser.add_argument("--speed", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of traffic before the outage")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the CRM is down")
    parser.add_argument("--flap", type=float, default=0.0, help="CRM down and up by turns, this many seconds each")
    parser.add_argument("--settle", type=float, default=5.0, help="traffic stopped: seconds for calls to end")
    parser.add_argument("--give-up", type=float, default=300.0, help="stop measuring after this")
    parser.add_argument("--failure-threshold", type=int, default=5)
    parser.add_argument("--backlog-calls", type=int, default=0)
    parser.add_argument("--per-endpoint", type=int, default=4)
    args = parser.parse_args()
    if args.serve:
        return serve(int(args.serve[0]), args.serve[1])
    crm = Crm(tempfile.mktemp(suffix=".jsonl"))
    crm.start()
    try:
        (run_backlog_outage if args.backlog_calls else run_traffic_outage)(args, crm)
    finally:
        crm.kill()


if __name__ == "__main__":
    main()
