"""Benchmark: what the outbox tally's triggers (migration v9) cost each write.

Writes the same rows with the triggers and without them (dropped on a copy of
the schema), on a SQLite file or the PostgreSQL ``--database`` names, and
prints per outbox row: the writer's batch insert (``write_batch``, 500 rows a
transaction) and the delivery engine's outcomes (``apply_transitions``, 100
rows a transaction, pending -> delivered). Medians of ``--repeat`` runs;
CPU of this process (SQLite does its work here) and wall time (PostgreSQL's
happens in the server)::

    .venv/bin/python bench/bench_outbox_tally.py
    .venv/bin/python bench/bench_outbox_tally.py --database postgresql://...
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

from esl_connector.delivery.store import Transition, apply_transitions  # noqa: E402
from esl_connector.records import INCOMING_CALL, CrmEvent  # noqa: E402
from storage.batch import write_batch  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.migrations import migrate  # noqa: E402
from storage.rows import Batch, outbox_row  # noqa: E402

TRIGGERS = ("outbox_tally_insert", "outbox_tally_update", "outbox_tally_delete")


def _drop_triggers(db) -> None:
    for name in TRIGGERS:
        on = "" if "sqlite" in type(db).__name__.lower() else ' ON "outbox"'
        db.execute_sql(f'DROP TRIGGER IF EXISTS "{name}"{on}')


def one_run(url: str, rows: int, triggers: bool) -> tuple[float, float, float, float]:
    """(insert CPU, insert wall, outcome CPU, outcome wall) in µs per row."""
    db = open_database(url)
    migrate(db)
    db.connect(reuse_if_open=True)
    for table in ("delivery_attempts", "outbox"):
        db.execute_sql(f"DELETE FROM {table}")
    if not triggers:
        _drop_triggers(db)
    events = [outbox_row(CrmEvent(INCOMING_CALL, f"c{i}", "101", "d1", {"callid": f"c{i}"}, 1.0), 1.0)
              for i in range(rows)]
    c0, w0 = time.process_time(), time.perf_counter()
    for start in range(0, rows, 500):
        write_batch(db, Batch(events=events[start:start + 500]))
    c1, w1 = time.process_time(), time.perf_counter()
    db.connect(reuse_if_open=True)
    ids = [r[0] for r in db.execute_sql("SELECT id FROM outbox ORDER BY id").fetchall()]
    for start in range(0, len(ids), 100):
        apply_transitions(db, [Transition(i, 0, "delivered", 1, 0.0, "", "acme", delivered_at=2.0, finished_at=2.0)
                               for i in ids[start:start + 100]])
    c2, w2 = time.process_time(), time.perf_counter()
    db.close()
    per = 1e6 / rows
    return (c1 - c0) * per, (w1 - w0) * per, (c2 - c1) * per, (w2 - w1) * per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="", help="a postgresql:// URL of a scratch database, WIPED "
                        "(default: a temporary SQLite file)")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = args.database or os.path.join(tempfile.mkdtemp(prefix="bench-tally."), "tally.db")
    print(f"{'triggers':<9} {'insert CPU µs/row':>18} {'wall':>8} {'outcome CPU µs/row':>19} {'wall':>8}")
    for triggers in (False, True, False, True):  # interleaved: the machine's load hits both alike
        if args.database:  # a fresh schema, with the triggers
            open_database(url).execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        elif os.path.exists(url):
            os.remove(url)
        runs = [one_run(url, args.rows, triggers) for _ in range(args.repeat)]
        medians = [statistics.median(r[k] for r in runs) for k in range(4)]
        print(f"{'with' if triggers else 'without':<9} {medians[0]:18.1f} {medians[1]:8.1f} "
              f"{medians[2]:19.1f} {medians[3]:8.1f}", flush=True)


if __name__ == "__main__":
    main()
