"""Benchmark: Changes through StorageWriter into a temporary SQLite file.

Each simulated call is 5 Changes (created, ringing + incoming_call, answered,
hung up, call log + call_answered): 5 call versions, 4 extension versions and
2 outbox rows. Calls overlap (``--concurrent`` of them at a time), as on a
busy PBX. Runs the writer in gevent's threadpool and inline (on the hub), each
in its own process so peak RSS is per mode, and prints for each:

    changes/s, commits/s, p50/p99/max submit->committed latency, submit cost,
    the longest the hub was blocked (a 1 ms ticker's worst lateness), peak RSS

    .venv/bin/python bench/bench_storage.py                  # as fast as possible
    .venv/bin/python bench/bench_storage.py --rate 2000      # paced, changes/s
"""

from gevent import monkey

monkey.patch_all()

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import gevent

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from esl_connector.records import (
    ANSWERED,
    CALL_LOG,
    IDLE,
    IN_CALL,
    INBOUND,
    INCOMING_CALL,
    RINGING,
    CallRecord,
    Changes,
    CrmEvent,
    ExtensionRecord,
)
from storage import StorageWriter, migrate, open_database


def call_steps(n: int, t0: float) -> list[Changes]:
    callid, ext = f"bench-{n:08d}-{'x' * 20}", str(100 + n % 400)
    base = {"callid": callid, "direction": INBOUND, "phone": "0901234567",
            "domain": "pbx.example", "extension": ext, "extensions": [ext],
            "started_at": t0, "node": "core-uuid", "legs": [f"{callid}-a", f"{callid}-b"],
            "calldate": "2024-01-01 10:00:00"}
    log = {"callid": callid, "calldate": "2024-01-01 10:00:00", "extension": ext,
           "phone": "0901234567", "duration": 23, "billsec": 11, "status": ANSWERED,
           "recording": f"https://pbx.example/rec/{callid}.wav", "userfield": ""}

    def ext_rec(state):
        return [ExtensionRecord(ext, "pbx.example", state, callid=callid, updated_at=t0)]

    return [
        Changes(calls=[CallRecord(state="ringing", **base)]),
        Changes(calls=[CallRecord(state="ringing", **base)], extensions=ext_rec(RINGING),
                crm_events=[CrmEvent(INCOMING_CALL, callid, ext, "pbx.example",
                                     {"phone": "0901234567", "extension": ext,
                                      "callid": callid}, t0)]),
        Changes(calls=[CallRecord(state="active", answered_at=t0 + 12, **base)],
                extensions=ext_rec(IN_CALL)),
        Changes(calls=[CallRecord(state="ended", ended_at=t0 + 23, **base)],
                extensions=ext_rec(IDLE)),
        Changes(calls=[CallRecord(state="ended", status=ANSWERED, duration=23, billsec=11,
                                  **base)],
                extensions=ext_rec(IDLE),
                crm_events=[CrmEvent(CALL_LOG, callid, ext, "pbx.example", log, t0 + 23)]),
    ]


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))] if values else 0.0


def run(args) -> dict:
    tmp = tempfile.mkdtemp(prefix="bench-storage-")
    db = open_database(os.path.join(tmp, "bench.db"))
    migrate(db)
    latencies = []
    writer = StorageWriter(db, commit_window=args.commit_window, max_batch=args.max_batch,
                           use_threadpool=args.mode == "threadpool",
                           on_commit=lambda info: latencies.extend(
                               info.committed - s for s in info.submitted))
    writer.start()
    lateness = []

    def tick():
        while True:
            before = time.monotonic()
            gevent.sleep(0.001)
            lateness.append(time.monotonic() - before - 0.001)

    ticker = gevent.spawn(tick)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    submit_time, submitted = 0.0, 0
    started = time.monotonic()
    for group in range(0, args.calls, args.concurrent):
        steps = [call_steps(n, time.time()) for n in range(group, min(args.calls,
                                                                    group + args.concurrent))]
        for step in range(5):
            for call in steps:
                t = time.perf_counter()
                writer.submit(call[step])
                submit_time += time.perf_counter() - t
                submitted += 1
            if args.rate:  # pace: wait until this many changes are due
                gevent.sleep(max(0.0, started + submitted / args.rate - time.monotonic()))
            else:
                gevent.sleep(0)  # let other greenlets run, as the ESL reader would
    assert writer.flush(600), "flush timed out"
    elapsed = time.monotonic() - started
    ticker.kill()
    status = writer.status()
    writer.stop()
    return {
        "mode": args.mode, "calls": args.calls, "changes": submitted,
        "outbox_rows": status.events_written, "rows_written": status.rows_written,
        "seconds": round(elapsed, 2), "changes_per_s": round(submitted / elapsed),
        "commits": status.commits, "commits_per_s": round(status.commits / elapsed, 1),
        "latency_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "latency_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "latency_max_ms": round(max(latencies) * 1000, 1),
        "submit_us": round(submit_time / submitted * 1e6, 1),
        "hub_stall_p99_ms": round(percentile(lateness, 99) * 1000, 1),
        "hub_stall_max_ms": round(max(lateness) * 1000, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                - rss_before) / 1024, 1),
        "db_mb": round(sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
                       / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--concurrent", type=int, default=50, help="calls in progress at once")
    parser.add_argument("--rate", type=float, default=0, help="changes/s; 0 = flat out")
    parser.add_argument("--commit-window", type=float, default=0.2)
    parser.add_argument("--max-batch", type=int, default=1000)
    parser.add_argument("--mode", choices=("both", "threadpool", "inline"), default="both")
    args = parser.parse_args()
    if args.mode != "both":
        print(json.dumps(run(args)))
        return
    for mode in ("threadpool", "inline"):  # one process each: peak RSS is per process
        argv = [a for a in sys.argv[1:] if not a.startswith("--mode")]
        out = subprocess.run([sys.executable, __file__, *argv, "--mode", mode],
                             check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print("  ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
