"""Benchmark: one scan of a CDR directory (``cdr.directories``), as at a start
after an outage, on each database given: per file, wall time, the
connector's CPU time, and (PostgreSQL) the connections the server accepted.

The simulator's traffic writes the CDR files (``CdrFiles``, as mod_json_cdr's
``log-dir``); a connector with a fresh ``cdr_files`` view then reads them all
in one ``CdrScanner.scan()`` while connected to the simulator. A scan runs
before every resync, so its time is how long a resync waits.

    .venv/bin/python bench/bench_cdr_scan.py --files 100 \
        --database sqlite:////tmp/cdr-bench.db --database postgresql://user:pw@127.0.0.1/db
"""

from gevent import monkey

monkey.patch_all()

import argparse
import os
import shutil
import sys
import tempfile
import time

import gevent

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from esl_connector.app import Connector
from esl_connector.settings.config import settings_from_dict
from esl_connector.simulator import Simulator, run_traffic
from esl_connector.simulator.cdr import CdrFiles

EXTENSIONS = [str(n) for n in range(101, 131)]


def make_files(sim: Simulator, directory: str, count: int) -> list[str]:
    sim.pbx.add_cdr_output(CdrFiles(directory))
    traffic = gevent.spawn(run_traffic, sim.pbx, 0.1, EXTENSIONS, None, 7)
    while len(os.listdir(directory)) < count if os.path.isdir(directory) else True:
        gevent.sleep(0.2)
    traffic.kill()
    return sorted(os.listdir(directory))[:count]


def sessions(connector: Connector) -> int | None:
    """Connections the PostgreSQL server accepted for this database so far."""
    if "postgresql" not in connector.settings.storage.url:
        return None
    cursor = connector.db.execute_sql("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
    return int(cursor.fetchone()[0])


def scan_once(url: str, sim: Simulator, source: str, files: list[str], work: str) -> str:
    directory = tempfile.mkdtemp(dir=work)
    settings = settings_from_dict({
        "freeswitch": {"port": sim.address[1], "password": "ClueCon", "resync_delay": 0.0},
        "storage": {"url": url, "commit_window": 0.02}, "http": {"port": 0},
        "cdr": {"directories": [directory], "scan_interval": 0, "retention": 0}}, env={})
    connector = Connector(settings).start()
    try:
        for name in files:
            shutil.copy(os.path.join(source, name), os.path.join(directory, name))
        before = sessions(connector)
        wall, cpu = time.perf_counter(), time.process_time()
        result = connector.cdr_scanner.scan()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        opened = sessions(connector)
        kind = url.split(":", 1)[0]
        line = (f"{kind:10} {len(files)} files ({result.accepted} stored, {result.duplicates} known, "
                f"{result.waiting + result.rejected} unreadable): {wall / len(files) * 1000:6.1f} ms/file wall, "
                f"{cpu / len(files) * 1000:5.1f} ms/file CPU")
        if before is not None:
            line += f", {(opened - before - 1) / len(files):.2f} connections/file"  # -1: this query's own
        return line
    finally:
        connector.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--database", action="append", required=True,
                        help="a database URL (repeat for several); each should be empty")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-cdr-scan.")
    sim = Simulator(speed=40.0, extensions=EXTENSIONS).start()
    sim.pbx.register_all()
    try:
        source = os.path.join(work, "source")
        files = make_files(sim, source, args.files)
        for url in args.database:
            print(scan_once(url, sim, source, files, work), flush=True)
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
