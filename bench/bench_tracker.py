"""Ingest benchmark: recorded FreeSWITCH bytes -> frames -> events -> tracker.

Replays real recordings (UUIDs rewritten per copy, so every copy is a new
call) and prints events/s and calls/s for parsing and tracking, per format,
plus peak RSS. Run:  .venv/bin/python bench/bench_tracker.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from esl_connector.calls.tracker import Tracker  # noqa: E402
from esl_connector.esl.protocol import FrameParser, is_event_frame, parse_event  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "freeswitch"
SCENARIOS = ("inbound_answered", "outbound_from_extension", "click_to_call", "inbound_no_answer")
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def copies(data: bytes, count: int):
    """The capture with every UUID made unique per copy (prefix rewritten)."""
    first = data.index(b"Content-Length")  # skip auth/command replies
    body = data[first:]
    for i in range(count):
        tag = b"%08x" % i
        yield UUID.sub(lambda m, tag=tag: tag + m.group(0)[8:], body)


def run(fmt: str, calls: int) -> None:
    per_scenario = max(1, calls // len(SCENARIOS))
    blobs = (b for s in SCENARIOS for b in copies((FIXTURES / f"{s}.{fmt}.esl").read_bytes(), per_scenario))
    total_bytes = n_calls = 0
    tracker = Tracker()
    crm = n_events = 0
    parse_time = track_time = 0.0
    for blob in blobs:  # streamed: parse one call's bytes, then track them
        t0 = time.perf_counter()
        events = [parse_event(f) for f in FrameParser().feed(blob) if is_event_frame(f)]
        t1 = time.perf_counter()
        for event in events:
            crm += len(tracker.handle(event).crm_events)
        track_time += time.perf_counter() - t1
        parse_time += t1 - t0
        n_events += len(events)
        total_bytes += len(blob)
        n_calls += 1
    print(f"[{fmt}] {n_calls} calls, {n_events} events, {total_bytes / 1e6:.1f} MB")
    print(f"  parse : {n_events / parse_time:>10,.0f} events/s  {total_bytes / 1e6 / parse_time:6.1f} MB/s")
    print(f"  track : {n_events / track_time:>10,.0f} events/s  {n_calls / track_time:>8,.0f} calls/s"
          f"  ({crm} CRM events, {len(tracker.calls.active_calls())} calls left open)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    for fmt in ("json", "plain"):
        run(fmt, args.calls)
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
