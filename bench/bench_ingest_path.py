"""Ingest path, stage by stage: CPU per call of what the connector does with
each FreeSWITCH event before delivery, in one process, without sockets.

The stream is the end-to-end benchmark's (``e2e_load_source``: the recorded
inbound answered call, 16 subscribed events and ~123 KB of JSON per call,
fresh UUIDs, caller and agent per call), interleaved as ``--rate`` calls/s
would send it and cut into 64 KiB reads. Stages, each timed in CPU seconds
(``time.process_time``):

* parse: ``FrameParser.feed`` + decoding each event as the ESL reader does
  (``--decode declared``: only the headers the tracker and the client read,
  ``esl.selective``; ``--decode whole``: ``parse_event``, every header);
* track: ``Tracker.handle`` (events -> calls -> CRM events);
* submit: ``StorageWriter.submit``'s copy into rows (``rows.snapshot``);
* write: ``collapse`` + ``write_batch`` into a SQLite file (WAL), one
  transaction per ``--batch`` changes, as group commit does under load.

    .venv/bin/python bench/bench_ingest_path.py --calls 3000
    .venv/bin/python bench/bench_ingest_path.py --calls 3000 --batch 5
    .venv/bin/python bench/bench_ingest_path.py --database postgresql://user:pw@host/db
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from e2e_load_source import Load, Recording, Stamper  # noqa: E402

from esl_connector.calls.tracker import Tracker  # noqa: E402
from esl_connector.esl.client import CLIENT_HEADERS  # noqa: E402
from esl_connector.esl.protocol import FrameParser, is_event_frame  # noqa: E402
from esl_connector.esl.protocol import parse_event as whole_event  # noqa: E402
from esl_connector.esl.selective import HeaderSelection  # noqa: E402
from esl_connector.node_link import LINK_HEADERS  # noqa: E402
from storage import migrate, open_database  # noqa: E402
from storage.batch import write_batch  # noqa: E402
from storage.rows import collapse, snapshot  # noqa: E402

RECORDING = BENCH.parent.parent / "shared" / "fixtures" / "freeswitch" / "inbound_answered.json.esl"
READ_SIZE = 64 * 1024


def stream(calls: int, rate: float) -> bytes:
    """Every call's frames in send order, time values filled in."""
    load = Load(Recording(RECORDING, ring=0.5, talk=1.0), rate, calls, [f"{1000 + i}" for i in range(500)])
    stamper, base = Stamper(), int(time.time() * 1e6)
    out = bytearray()
    for at, call, index in load.schedule:
        frame = load.frames[call][index]
        stamper.patch(frame, load.recording.templates[index].slots, base + int(call / rate * 1e6),
                      base + int(at * 1e6))
        out += frame
    return bytes(out)


def run(args) -> dict[str, float]:
    data = stream(args.calls, args.rate)
    spent = dict.fromkeys(("parse", "track", "submit", "write"), 0.0)
    db = open_database(args.database or str(Path(tempfile.mkdtemp(prefix="bench-ingest-")) / "ingest.db"))
    migrate(db)
    if args.database:  # a database of its own: start from empty tables
        for table in ("outbox", "calls", "extensions"):
            db.execute_sql(f'DELETE FROM "{table}"')
    tracker, parser = Tracker(), FrameParser()
    parse_event = whole_event
    if args.decode == "declared":
        parse_event = HeaderSelection({*tracker.event_headers(), *LINK_HEADERS, *CLIENT_HEADERS}).parse_event
    queued, seq, events = [], 0, 0
    clock = time.process_time
    for start in range(0, len(data), READ_SIZE):
        t0 = clock()
        parsed = [parse_event(f) for f in parser.feed(data[start:start + READ_SIZE]) if is_event_frame(f)]
        t1 = clock()
        spent["parse"] += t1 - t0
        for event in parsed:
            t1 = clock()
            changes = tracker.handle(event)
            t2 = clock()
            spent["track"] += t2 - t1
            if changes:
                seq += 1
                queued.append(snapshot(changes, seq, time.time(), time.monotonic()))
                spent["submit"] += clock() - t2
            if len(queued) >= args.batch:
                t3 = clock()
                write_batch(db, collapse(queued))
                spent["write"] += clock() - t3
                queued.clear()
        events += len(parsed)
    if queued:
        t3 = clock()
        write_batch(db, collapse(queued))
        spent["write"] += clock() - t3
    calls = db.execute_sql("SELECT COUNT(*) FROM calls").fetchone()[0]
    outbox = db.execute_sql("SELECT COUNT(*) FROM outbox").fetchone()[0]
    print(f"{args.calls} calls, {events} events, {len(data) / 1e6:.0f} MB, {seq} changes, "
          f"batches of {args.batch}, {args.decode} headers decoded; stored {calls} calls, {outbox} outbox rows")
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=100.0, help="interleaving of the calls' events")
    parser.add_argument("--batch", type=int, default=20, help="changes per transaction")
    parser.add_argument("--decode", choices=("declared", "whole"), default="declared",
                        help="event-json decoding: the declared headers (as the connector) or every header")
    parser.add_argument("--database", default="", help="a database URL (its calls, extensions and outbox "
                        "are emptied first); default: a new SQLite file")
    args = parser.parse_args()
    spent = run(args)
    total = sum(spent.values())
    for stage, seconds in (*spent.items(), ("total", total)):
        print(f"  {stage:7s} {seconds / args.calls * 1e6:8.0f} us CPU per call  {seconds / total:6.1%}")


if __name__ == "__main__":
    main()
