"""Benchmark: CPU time to format one log line, plain and JSON, with the
secrets of a configuration redacted (``esl_connector/logs.py``), against the
standard library's formatter without redaction.

Two lines: an ordinary one (no credential-shaped text: only the configured
secret values are looked for) and a delivery failure that quotes a masked URL
(``secret=***``: the credential patterns run too). Figures are CPU seconds per
line (``time.process_time``), the median of ``--rounds`` rounds, so a busy
machine changes them little.

    .venv/bin/python bench/bench_logs.py
    .venv/bin/python bench/bench_logs.py --secrets 100 --lines 50000
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from esl_connector.logs import PLAIN_FORMAT, JsonFormatter, PlainFormatter, Redactor

LINES = {
    "ordinary": ("esl_connector.calls.tracker", "resync: %d known legs, %d discovered, %d lost while disconnected",
                 (3, 0, 0)),
    "delivery failure": ("esl_connector.delivery.engine",
                         "outbox row %d (%s, call %s) attempt %d failed (%s); next attempt in %.0f s",
                         (12345, "incoming_call", "7acd53ba-6f32-4020-9e51-9db98f07f98d", 2,
                          "HTTP 500 from http://127.0.0.1:34819/wsapi/acme/incoming_call?secret=***&phone=0904824242",
                          5.0)),
}


def per_line(formatter: logging.Formatter, record: logging.LogRecord, lines: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(lines):
            formatter.format(record)
        samples.append((time.process_time() - started) / lines)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--secrets", type=int, default=20, help="configured secret values (customers x 2-4)")
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    redact = Redactor(f"secret-value-{n:04d}-abcdef" for n in range(args.secrets))
    formatters = {"stdlib, no redaction": logging.Formatter(PLAIN_FORMAT),
                  "plain, redacted": PlainFormatter(redact), "json, redacted": JsonFormatter(redact)}
    print(f"{args.secrets} secrets, {args.lines} lines x {args.rounds} rounds (median), CPU time per line")
    for label, (logger, message, values) in LINES.items():
        record = logging.LogRecord(logger, logging.INFO, __file__, 1, message, values, None)
        for name, formatter in formatters.items():
            print(f"  {label:17} {name:22} {per_line(formatter, record, args.lines, args.rounds) * 1e6:7.1f} us")


if __name__ == "__main__":
    main()
