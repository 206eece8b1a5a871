"""Benchmark: the health answer and the status routes against a database of
N outbox rows, N/2 calls and N delivery attempts.

Fills a real SQLite file (or the PostgreSQL database ``--database`` names;
its outbox, calls and attempts are emptied first) with plain ``executemany``
through the schema's own migrations, serves the status API in-process over
real HTTP on loopback (the connector's own routes and server; no Event
Socket), and prints p50/p99 ms per route at each N::

    .venv/bin/python bench/bench_health.py                       # N = 0, 100k, 1M on SQLite
    .venv/bin/python bench/bench_health.py --sizes 0 100000 --database postgresql://...

Rows look like a long run at 100 calls/s with nothing purged: 2 events per
call, 97 % delivered, a backlog of 1,000 pending/retrying rows, some dead,
skipped and expired; one attempt per row.
"""

from gevent import monkey

monkey.patch_all()

import argparse
import os
import random
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from esl_connector.api.context import ApiContext  # noqa: E402
from esl_connector.api.server import HttpApi, HttpServer  # noqa: E402
from esl_connector.app import http_routes  # noqa: E402
from esl_connector.settings.config import HttpSettings  # noqa: E402
from esl_connector.settings.customer_config import parse_customers  # noqa: E402
from esl_connector.settings.customers import CustomerDirectory  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.migrations import migrate  # noqa: E402

ROUTES = ("/api/v1/health", "/api/v1/extensions", "/api/v1/calls", "/api/v1/calls?active=true",
          "/api/v1/deliveries", "/api/v1/deliveries?status=dead", "/api/v1/deliveries/stats",
          "/api/v1/deliveries/endpoints", "/api/v1/metrics")
CUSTOMERS = [{"code": "acme", "domain_crm": "crm.acme.vn", "secret": "s3cr3t-acme", "extensions": "101-150"},
             {"code": "beta", "domain_crm": "crm.beta.vn", "secret": "s3cr3t-beta", "extensions": "151-199"}]
BACKLOG = 1000
CHUNK = 20_000


def _status(i: int, n: int, rng: random.Random) -> str:
    if i >= n - BACKLOG:
        return "pending" if rng.random() < 0.7 else "retrying"
    r = rng.random()
    return "delivered" if r < 0.97 else "dead" if r < 0.985 else "skipped" if r < 0.995 else "expired"


def fill(db, n: int, now: float) -> None:
    """N outbox rows, N/2 calls, N attempts; the newest at ``now``, 200 rows/s before."""
    rng, p = random.Random(n), db.param
    conn = db.connection()
    cursor = conn.cursor()
    for table in ("delivery_attempts", "outbox", "calls"):
        cursor.execute(f"DELETE FROM {table}")
    call_sql = (f"INSERT INTO calls (callid, node, direction, state, phone, extension, domain, extensions, "
                f"started_at, answered_at, ended_at, calldate, status, hangup_cause, duration, billsec, "
                f"recording, recordings, userfield, legs, params, created_at, updated_at, end_source, "
                f"tracker_state) VALUES ({', '.join([p] * 25)})")
    outbox_sql = (f"INSERT INTO outbox (id, event_id, event_type, callid, extension, domain, params, "
                  f"occurred_at, created_at, status, attempts, next_attempt_at, last_error, delivered_at, "
                  f"customer, replayed_at, finished_at, endpoint, claimed_by, claim_until) "
                  f"VALUES ({', '.join([p] * 20)})")
    attempt_sql = (f"INSERT INTO delivery_attempts (id, outbox_id, at, url, status_code, latency_ms, error, "
                   f"response_excerpt) VALUES ({', '.join([p] * 8)})")
    for start in range(0, n, CHUNK):
        calls, rows, attempts = [], [], []
        for i in range(start, min(n, start + CHUNK)):
            at = now - (n - i) / 200.0
            callid, ext = f"call-{i // 2}", str(101 + (i // 2) % 99)
            customer = "acme" if int(ext) <= 150 else "beta"
            endpoint = f"https://crm.{customer}.vn:443"
            if i % 2 == 0:
                live = i >= n - 40
                calls.append((callid, "default", "inbound", "active" if live else "ended", "0901", ext, "d1",
                               f'["{ext}"]', at, at + 2, 0 if live else at + 30, "", "ANSWERED", "", 30, 28,
                               "", "[]", "", "[]", "{}", at, at, "", "{}"))
            status = _status(i, n, rng)
            done = status not in ("pending", "retrying")
            rows.append((i + 1, f"{i:032x}", "call_answered" if i % 2 else "incoming_call", callid, ext, "d1",
                         "{}", at, at, status, 1 if done else 0, at, "", at + 0.05 if status == "delivered" else None,
                         customer, 0.0, at + 0.05 if done else None, endpoint, "", 0.0))
            attempts.append((i + 1, i + 1, at + 0.04, f"{endpoint}/api/cti", 200 if status == "delivered" else 500,
                             40.0, "", "ok"))
        with db.atomic():
            cursor = db.cursor()
            for sql, values in ((call_sql, calls), (outbox_sql, rows), (attempt_sql, attempts)):
                _executemany(cursor, sql, values)
    if not isinstance(db, __import__("peewee").SqliteDatabase):
        cursor = db.cursor()
        cursor.execute("SELECT setval('outbox_id_seq', GREATEST(1, (SELECT MAX(id) FROM outbox)))")
        cursor.execute("ANALYZE")
    else:
        db.execute_sql("ANALYZE")


def _executemany(cursor, sql: str, values: list[tuple]) -> None:
    """SQLite's executemany; on PostgreSQL psycopg2's, in pages of 1,000 rows
    a round trip (its own executemany makes one per row)."""
    if type(cursor).__module__.startswith("sqlite3"):
        cursor.executemany(sql, values)
    else:
        from psycopg2.extras import execute_batch
        execute_batch(cursor, sql, values, page_size=1000)


def time_route(url: str, token: str, budget_s: float, most: int) -> tuple[float, float, int]:
    """p50 and p99 ms of GET ``url``, as many times as the budget allows (at least 3)."""
    times: list[float] = []
    started = time.monotonic()
    while len(times) < most and (len(times) < 3 or time.monotonic() - started < budget_s):
        t0 = time.perf_counter()
        r = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=600)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:200])
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))], len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 100_000, 1_000_000])
    parser.add_argument("--database", default="", help="a postgresql:// URL (default: a temporary SQLite file)")
    parser.add_argument("--budget", type=float, default=5.0, help="seconds per route and size, at most")
    parser.add_argument("--requests", type=int, default=50, help="requests per route and size, at most")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-health.")
    db = open_database(args.database or os.path.join(workdir, "health.db"))
    migrate(db)
    token = "bench-token"
    directory = CustomerDirectory(parse_customers(CUSTOMERS, env={}))
    settings = type("S", (), {"http": HttpSettings(api_token=token)})()
    ctx = ApiContext(db, None, directory, settings=settings)
    server = HttpServer(HttpApi(ctx, http_routes())).start()
    print(f"database: {args.database.split('@')[-1] if args.database else 'SQLite ' + workdir}")
    print(f"{'N outbox':>10} {'route':<34} {'p50 ms':>9} {'p99 ms':>9} {'n':>4}")
    for n in args.sizes:
        t0 = time.monotonic()
        fill(db, n, time.time())
        db.close()
        print(f"# filled N={n:,} in {time.monotonic() - t0:.1f} s", flush=True)
        for route in ROUTES:
            p50, p99, count = time_route(server.url + route, token, args.budget, args.requests)
            print(f"{n:>10,} {route:<34} {p50:9.1f} {p99:9.1f} {count:4d}", flush=True)
    server.stop()


if __name__ == "__main__":
    main()
