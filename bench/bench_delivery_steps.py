"""Benchmark: CPU of a webhook's two steps in the delivery engine, one at a time.

* plan: the connector's own planner (``webhooks.planner``, a customer as the
  configuration makes it: ``domain_crm`` + ``secret``) building the request of
  an ``incoming_call`` (GET, the contract in the query) and of a
  ``call_answered`` (POST, JSON) from an outbox row: CPU per plan, no I/O.
* send: ``HttpSender.send`` of those requests, one after the other, over a
  keep-alive connection to a local receiver in another process (the same as
  ``bench_delivery.py``'s): CPU of this process per request, which includes the
  attempt's stored request with its secrets masked and the loopback system calls.
* walk: one due-page query (``DueRows.page``, pending rows) over a SQLite outbox
  of ``--backlog`` rows of a customer whose endpoints are all busy (left out of
  the query, as the engine asks): CPU per query that finds nothing to send.

Single-threaded and without the engine's scheduling, so it is steadier than the
engine benchmarks on a shared machine; run it alternately against two versions
and compare medians.

    .venv/bin/python bench/bench_delivery_steps.py
    .venv/bin/python bench/bench_delivery_steps.py --plans 20000 --sends 3000 --repeat 5
"""

from gevent import monkey

monkey.patch_all()

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_delivery import start_receiver  # noqa: E402

from esl_connector.delivery.due_rows import DueRows  # noqa: E402
from esl_connector.delivery.sender import HttpSender, SessionPool  # noqa: E402
from esl_connector.delivery.webhooks import planner  # noqa: E402
from esl_connector.records import CALL_LOG, INCOMING_CALL  # noqa: E402
from esl_connector.settings.customer_config import parse_customers  # noqa: E402
from esl_connector.settings.customers import CustomerDirectory  # noqa: E402
from storage import migrate, open_database  # noqa: E402
from storage.batch import write_batch  # noqa: E402
from storage.models import OutboxEvent  # noqa: E402
from storage.rows import Batch, outbox_row  # noqa: E402
from storage.views import StoredEvent  # noqa: E402

START = {"phone": "0901234567", "extension": "1001"}
LOG = {"calldate": "2024-01-01 10:00:00", "extension": "1001", "phone": "0901234567",
       "duration": 23, "billsec": 11, "status": "ANSWERED", "recording": "", "userfield": ""}


def rows(n: int) -> list[StoredEvent]:
    """``n`` outbox rows, half of each kind, each call with its own id."""
    out = []
    for i in range(n):
        kind, params = (INCOMING_CALL, START) if i % 2 == 0 else (CALL_LOG, LOG)
        callid = f"bench-{i // 2:08d}"
        out.append(StoredEvent(i + 1, f"evt-{i:08d}", kind, callid, "1001", "pbx",
                               {**params, "callid": callid}, 1.0, 1.0, "pending", 0, 0.0, "", None))
    return out


def cpu_per(fn, items) -> float:
    """CPU microseconds per item of ``fn(item)``."""
    started = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - started) / len(items) * 1e6


def walk_cpu(backlog: int, queries: int) -> float:
    """CPU microseconds of a pending-rows query leaving out the busy customer."""
    db = open_database(os.path.join(tempfile.mkdtemp(), "walk.db"))
    migrate(db)
    events = [outbox_row(e, time.time()) for e in call_events_of(backlog)]
    write_batch(db, Batch(events=events))
    with db.connection_context():
        OutboxEvent.update(customer="busy").execute(db)
    due = DueRows(db)
    in_hand = list(range(1, 101))  # rows the engine holds: left out by id
    cpu = cpu_per(lambda _: due.page(time.time(), "pending", exclude_customers=["busy"],
                                     exclude_ids=in_hand, claimable_by="bench"), range(queries))
    db.close()
    return cpu


def call_events_of(n: int):
    from bench_delivery import call_events
    return [e for i in range(n // 2) for e in call_events(i)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plans", type=int, default=10000)
    parser.add_argument("--sends", type=int, default=2000)
    parser.add_argument("--backlog", type=int, default=6000, help="outbox rows of the walk step")
    parser.add_argument("--queries", type=int, default=50, help="due queries of the walk step")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step; the median is printed")
    args = parser.parse_args()
    proc, base = start_receiver()
    try:
        customers = parse_customers([{"code": "bench", "domain_crm": base, "secret": "s3cret",
                                      "extensions": "1000-1099"}], env={})
        plan_for = planner(CustomerDirectory(customers))
        events = rows(args.plans)
        plans = [cpu_per(lambda e: plan_for(e, {}), events) for _ in range(args.repeat)]
        requests = [plan_for(e, {}).requests[0] for e in events[:args.sends]]
        pool = SessionPool(per_endpoint=1)
        sender = HttpSender(pool)
        sender.send(requests[0])  # the connection is opened once, not measured
        sends = [cpu_per(sender.send, requests) for _ in range(args.repeat)]
        pool.close()
    finally:
        proc.terminate()
    walks = [walk_cpu(args.backlog, args.queries) for _ in range(args.repeat)]
    print(f"plan: {statistics.median(plans):.1f} us CPU per webhook (runs: "
          f"{', '.join(f'{v:.1f}' for v in plans)})")
    print(f"send: {statistics.median(sends):.1f} us CPU per request (runs: "
          f"{', '.join(f'{v:.1f}' for v in sends)})")
    print(f"walk: {statistics.median(walks):.0f} us CPU per due query, {args.backlog} rows of a busy "
          f"customer (runs: {', '.join(f'{v:.0f}' for v in walks)})")


if __name__ == "__main__":
    main()
