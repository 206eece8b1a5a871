"""``bench_end_to_end.py --ingest-compare``: the connector's ingest cost per
event against a bare greenswitch loop reading the same stream.

The load source sends ``--calls`` calls flat out (one after the other, every
event as fast as the reader takes it) to one reader at a time, each with a
source of its own:

* ``bare-json`` / ``bare-orjson``: ``e2e_bare_reader.py``, greenswitch's own
  framing and loop plus a full JSON decode of every body (``json.loads`` /
  ``orjson.loads``), counting events; its queue bounded as the connector's is
  (``--bare-queue``, 10,000 events; 0 = greenswitch's unbounded queue);
* ``connector``: ``esl-connector run`` with default settings but
  ``[delivery] process = "separate"`` (``--set`` overrides it), until every
  event is received and every call's two CRM events are committed. The CRM
  is a closed port, so the delivery child only fails and reschedules.

CPU is read from /proc, user and system apart, from the ``go`` to the end.
For the connector, the main process and its children (the delivery process)
are counted apart: with delivery in its own process, the main process does
the ingest (Event Socket reads, JSON decoding, the tracker, the storage
writer, the HTTP API answering the benchmark's health polls, ~20 of them) and nothing of
delivery but waking the child after a commit; the ratio is computed on it.
With ``--set delivery.process=inline`` the main process delivers too, and the
ratio says so.

The ratio is bare cost / connector cost per event (1.0: the connector costs
no more than reading and decoding; the target is >= 0.90). With ``--repeat
N`` the readers run N rounds (order reversed every other round, against
drift) and the medians are printed.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
READERS = ("bare-orjson", "bare-json", "connector")


def cpu_times(pid: int) -> dict:
    """user/system CPU seconds of a process, and of its children (alive and reaped)."""
    def stat(p: int) -> list[str]:
        try:
            with open(f"/proc/{p}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            return []
    from bench_end_to_end import CLK_TCK, child_pids
    own = stat(pid)
    if not own:
        return {"user": 0.0, "sys": 0.0, "child_user": 0.0, "child_sys": 0.0}
    child_user, child_sys = int(own[13]), int(own[14])  # reaped children
    for child in child_pids(pid):
        fields = stat(child)
        if fields:
            child_user += int(fields[11]) + int(fields[13])
            child_sys += int(fields[12]) + int(fields[14])
    return {"user": int(own[11]) / CLK_TCK, "sys": int(own[12]) / CLK_TCK,
            "child_user": child_user / CLK_TCK, "child_sys": child_sys / CLK_TCK}


def delta(after: dict, before: dict) -> dict:
    return {k: after[k] - before[k] for k in after}


def start_source(calls: int, log: Path):
    from bench_end_to_end import Child
    source = Child("load source", [sys.executable, str(BENCH / "e2e_load_source.py"), "--rate", "0", "--calls",
                                   str(calls), "--agents", "1000-1099"], log)
    return source, source.wait_for("ready", 600)


def run_bare(decoder: str, queue: int, calls: int, tmp: Path, children: list) -> dict:
    from bench_end_to_end import Child, proc_stats
    source, ready = start_source(calls, tmp / f"source-bare-{decoder}.log")
    children.append(source)
    reader = Child("bare reader", [sys.executable, str(BENCH / "e2e_bare_reader.py"), "--port", str(ready["port"]),
                                   "--events", str(ready["events"]), "--decoder", decoder, "--queue", str(queue)],
                   tmp / "bare.log")
    children.append(reader)
    reader.wait_for("connected", 30)
    cpu0, t0 = cpu_times(reader.proc.pid), time.time()
    source.tell("go")
    counted = reader.wait_for("counted", 600)
    elapsed, cpu = time.time() - t0, delta(cpu_times(reader.proc.pid), cpu0)
    return {"events": counted["events"], "seconds": elapsed, **cpu,
            "peak_rss_mib": proc_stats(reader.proc.pid)["hwm_mib"]}


def run_connector(calls: int, extra: dict, tmp: Path, children: list, profile: str, profile_gil: bool) -> dict:
    from bench_end_to_end import Child, free_port, proc_stats, write_config
    source, ready = start_source(calls, tmp / "source-connector.log")
    children.append(source)
    http_port = free_port()
    config = tmp / "connector.toml"
    for leftover in tmp.glob("connector.db*"):
        leftover.unlink()
    write_config(config, ready["port"], http_port, [{"code": "bench", "domain_crm": "http://127.0.0.1:9",
                                                     "secret": "s3cret", "extensions": "1000-1099"}], extra)
    connector = Child("connector", [sys.executable, "-m", "esl_connector.cli", "run", "-c", str(config)],
                      tmp / "connector.log", json_stdout=False)
    children.append(connector)
    source.wait_for("command", 60, lambda f: f["command"] == "api version")
    session = requests.Session()
    url = f"http://127.0.0.1:{http_port}/api/v1/health"
    first = session.get(url, timeout=10).json()
    received0, written0 = first["freeswitch"]["events_received"], first["writer"]["events_written"]
    profiler = start_profiler(connector.proc.pid, profile, profile_gil) if profile else None
    cpu0, t0 = cpu_times(connector.proc.pid), time.time()
    source.tell("go")
    got = 0
    while True:  # until every event is tracked and its call's 2 CRM events are committed
        # A health answer costs the connector a few ms (outbox counts): poll
        # seldom until the end is near.
        time.sleep(1.0 if got < 0.9 * ready["events"] else 0.1)
        try:
            health = session.get(url, timeout=30).json()
        except (requests.RequestException, ValueError):
            continue
        got = health["freeswitch"]["events_received"] - received0
        if got >= ready["events"] and health["writer"]["events_written"] - written0 >= 2 * calls:
            break
    elapsed, cpu = time.time() - t0, delta(cpu_times(connector.proc.pid), cpu0)
    if profiler is not None:
        profiler.send_signal(2)  # py-spy writes what it has on SIGINT
        profiler.wait(timeout=60)
    stats = proc_stats(connector.proc.pid)
    return {"events": got, "seconds": elapsed, **cpu, "peak_rss_mib": stats["hwm_mib"]}


def start_profiler(pid: int, path: str, gil: bool):
    import subprocess
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([py_spy, "record", "-p", str(pid), "-r", "97", "-f", "raw", "-o", path,
                             "--nonblocking", "--threads", *(["--gil"] if gil else [])], stdout=subprocess.DEVNULL)


def run_reader(who: str, calls: int, extra: dict, bare_queue: int, tmp: Path, profile: str,
               profile_gil: bool = False) -> dict:
    children: list = []
    try:
        if who == "connector":
            return run_connector(calls, extra, tmp, children, profile, profile_gil)
        return run_bare(who.split("-", 1)[1], bare_queue, calls, tmp, children)
    finally:
        for child in reversed(children):
            if child is children[0]:
                try:
                    child.tell("stop")
                except (OSError, ValueError):
                    pass
            child.stop()


def us(seconds: float, events: int) -> float:
    return seconds * 1e6 / events


def describe(who: str, f: dict) -> str:
    main = f"CPU {us(f['user'] + f['sys'], f['events']):.0f} us/event (user {us(f['user'], f['events']):.0f}, " \
           f"sys {us(f['sys'], f['events']):.0f})"
    if who == "connector":
        main = "main process " + main + f", delivery process {us(f['child_user'] + f['child_sys'], f['events']):.0f}"
    return (f"{who:11}: {f['events']} events in {f['seconds']:.2f} s = {f['events'] / f['seconds']:,.0f} events/s, "
            f"{main}, peak RSS {f['peak_rss_mib']:.0f} MiB")


def ingest_compare(calls: int, extra: dict, repeat: int = 1, readers: tuple[str, ...] = READERS,
                   bare_queue: int = 10000, profile: str = "", profile_gil: bool = False) -> dict:
    extra = {k: dict(v) for k, v in extra.items()}
    extra.setdefault("delivery", {}).setdefault("process", "separate")
    inline = extra["delivery"]["process"] == "inline"
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    runs: dict[str, list[dict]] = {who: [] for who in readers}
    try:
        for round_no in range(repeat):
            order = readers if round_no % 2 == 0 else tuple(reversed(readers))
            for who in order:
                figures = run_reader(who, calls, extra, bare_queue, tmp, profile if round_no == 0 else "", profile_gil)
                runs[who].append(figures)
                print(describe(who, figures), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cost = {who: [us(f["user"] + f["sys"], f["events"]) for f in runs[who]] for who in readers}
    rate = {who: [f["events"] / f["seconds"] for f in runs[who]] for who in readers}
    if "connector" in runs:
        cost["connector+delivery"] = [us(f["user"] + f["sys"] + f["child_user"] + f["child_sys"], f["events"])
                                      for f in runs["connector"]]
    print(f"\nmedians of {repeat} round(s), CPU per event: " + ", ".join(
        f"{who} {statistics.median(v):.0f} us" for who, v in cost.items()))
    if "connector" in runs:
        what = "main process (ingest and inline delivery)" if inline else "main process (ingest only)"
        for who in readers:
            if who.startswith("bare-"):
                ratios = [b / c for b, c in zip(cost[who], cost["connector"])]
                print(f"ingest ratio, {who} / connector {what}: CPU per event {fmt_ratios(ratios)}, "
                      f"throughput {fmt_ratios([c / b for b, c in zip(rate[who], rate['connector'])])} "
                      f"(target >= 0.90)")
    return runs


def fmt_ratios(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"median {statistics.median(values):.2f} (" + ", ".join(f"{v:.2f}" for v in values) + ")"
