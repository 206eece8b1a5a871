"""End-to-end benchmark: "FreeSWITCH" -> connector -> CRM, three processes on 127.0.0.1.

* the load source (``bench/e2e_load_source.py``): an Event Socket server that
  replays pre-rendered copies of the recorded inbound answered call
  (``inbound_answered.json.esl``: 16 subscribed events and ~120 KB of JSON per
  call, fresh UUIDs, caller number and agent per call) at ``--rate`` calls/s
  for ``--seconds``; the agent's phone rings, answers ``--ring`` s later and
  hangs up ``--talk`` s after that;
* the connector, as an admin runs it: ``esl-connector run -c <generated toml>``
  (default settings; SQLite in a temporary directory; one customer whose CRM
  is the receiver, or two with ``--down``);
* the CRM receiver (``bench/e2e_receiver.py``): notes each webhook's arrival,
  optionally ``--crm-delay`` late.

Figures: calls/s offered and delivered, backlog over time (the connector's
``/api/v1/health``, polled), latency per webhook kind from the FreeSWITCH
event that caused it (its ``Event-Date-Timestamp``, the time the source wrote
it to the socket) to the CRM request's arrival (incoming_call: the agent leg's
first CHANNEL_PROGRESS; call_answered: the call's last
CHANNEL_HANGUP_COMPLETE), the connector's CPU time and peak RSS (from /proc).

    .venv/bin/python bench/bench_end_to_end.py --rate 50 --seconds 30
    .venv/bin/python bench/bench_end_to_end.py --rate 50 --seconds 30 --crm-delay 0.2
    .venv/bin/python bench/bench_end_to_end.py --rate 50 --seconds 30 --down refuse
    .venv/bin/python bench/bench_end_to_end.py --step 25,50,75,100,150,200,300 --seconds 20
    .venv/bin/python bench/bench_end_to_end.py --ingest-compare --calls 3000 --repeat 3
    .venv/bin/python bench/bench_end_to_end.py --rate 50 --database postgresql://u:p@host/db --connectors 2

``--database``: PostgreSQL (a fresh database created on that server for the
run, dropped after) instead of SQLite; ``--connectors 2``: a second connector
process on the same database that delivers only (``bench/e2e_shared.py``).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import e2e_ingest_compare  # noqa: E402 - beside this file
import e2e_shared  # noqa: E402

ROOT = BENCH.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
KINDS = ("incoming_call", "call_answered")


# -- processes ---------------------------------------------------------------------

class Child:
    """A child process whose stdout is JSON lines (``facts``)."""

    def __init__(self, name: str, argv: list[str], log: Path | None = None, json_stdout: bool = True):
        self.name = name
        self.facts: queue.Queue = queue.Queue()
        self.log = open(log, "wb") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE if json_stdout else self.log,
                                     stderr=self.log, text=json_stdout, preexec_fn=_die_with_parent)
        if json_stdout:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.facts.put(json.loads(line))
            except ValueError:
                pass
        self.facts.put({"event": "exited"})

    def wait_for(self, event: str, timeout: float, predicate=None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no {event!r} within {timeout:.0f} s")
            try:
                fact = self.facts.get(timeout=left)
            except queue.Empty:
                continue
            if fact.get("event") == "exited":
                raise RuntimeError(f"{self.name} exited (code {self.proc.poll()})")
            if fact.get("event") == event and (predicate is None or predicate(fact)):
                return fact
            self.on_fact(fact)

    def on_fact(self, fact: dict) -> None:
        pass

    def tell(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.log is not subprocess.DEVNULL:
            self.log.close()


def _die_with_parent() -> None:
    """In the child: SIGTERM when the benchmark dies, however it dies (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stats(pid: int) -> dict:
    """CPU seconds (user + system, all threads), RSS and peak RSS (MiB) from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
    except (FileNotFoundError, ProcessLookupError):
        return {"cpu_s": 0.0, "rss_mib": 0.0, "hwm_mib": 0.0, "threads": 0}
    return {"cpu_s": (int(fields[11]) + int(fields[12])) / CLK_TCK,
            "rss_mib": int(status["VmRSS"].split()[0]) / 1024,
            "hwm_mib": int(status["VmHWM"].split()[0]) / 1024,
            "threads": int(status["Threads"])}


def connector_stats(pid: int) -> dict:
    """``proc_stats`` of the connector and of its children (the delivery process
    with ``[delivery] process = "separate"``): CPU summed, with the children
    already exited (restarted) included; RSS and peak RSS summed."""
    total = proc_stats(pid)
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        reaped = (int(fields[13]) + int(fields[14])) / CLK_TCK
    except (FileNotFoundError, ProcessLookupError):
        reaped = 0.0
    children = {"cpu_s": reaped, "rss_mib": 0.0, "hwm_mib": 0.0, "threads": 0}
    for child in child_pids(pid):
        for key, value in proc_stats(child).items():
            children[key] += value
    return {**{k: total[k] + children[k] for k in total}, "children_cpu_s": children["cpu_s"],
            "children_hwm_mib": children["hwm_mib"]}


def child_pids(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                pass
    return found


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / CLK_TCK


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# -- one run ---------------------------------------------------------------------------

@dataclass
class Options:
    rate: float = 50.0
    seconds: float = 30.0
    ring: float = 0.5
    talk: float = 1.0
    crm_delay: float = 0.0
    down: str = ""                 # "", "refuse" or "503": a second customer whose CRM is down
    poll: float = 2.0
    drain: float = 60.0            # seconds to wait for the backlog after the load
    connector_config: dict = field(default_factory=dict)  # extra TOML keys {"storage": {"commit_window": 0.02}}
    profile: str = ""              # py-spy raw output file
    profile_gil: bool = False      # only samples holding the GIL (CPU, not waits)
    keep: bool = False             # keep the temporary directory
    quiet: bool = False
    calls: int = 0                 # override rate x seconds (ingest runs)
    database: str = ""             # "" = SQLite; postgresql://... = a fresh database on that server
    connectors: int = 1            # 2: a second process delivering from the same database


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def write_config(path: Path, esl_port: int, http_port: int, customers: list[dict], extra: dict) -> None:
    sections = {
        "freeswitch": {"host": "127.0.0.1", "port": esl_port, "password": "ClueCon"},
        "storage": {"url": f"sqlite:///{path.parent / 'connector.db'}"},
        "http": {"host": "127.0.0.1", "port": http_port},
    }
    for name, values in extra.items():
        sections.setdefault(name, {}).update(values)
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in values.items())
        lines.append("")
    for customer in customers:
        lines.append("[[customers]]")
        lines.extend(f"{k} = {toml_value(v)}" for k, v in customer.items())
        lines.append("")
    path.write_text("\n".join(lines))


def agent_ranges(opts: Options) -> tuple[str, str]:
    """One agent per call in progress (plus room), per customer: 4-digit extensions."""
    per_customer = max(20, math.ceil(max(opts.rate, 1) * (opts.ring + opts.talk + 1.0) / (2 if opts.down else 1)))
    per_customer = min(per_customer, 999)
    return f"1000-{1000 + per_customer - 1}", f"2000-{2000 + per_customer - 1}"


class Run:
    """The three processes of one run, and what they measured."""

    def __init__(self, opts: Options):
        self.opts = opts
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
        self.children: list[Child] = []
        self.timeline: list[dict] = []
        self.source_facts: list[dict] = []
        self.result: dict = {}

    def say(self, text: str) -> None:
        if not self.opts.quiet:
            print(text, flush=True)

    def start(self) -> None:
        o = self.opts
        py = sys.executable
        receiver_argv = [py, str(BENCH / "e2e_receiver.py"), "--delay", str(o.crm_delay)]
        if o.down == "503":
            receiver_argv += ["--fail", "down"]
        self.receiver = Child("receiver", receiver_argv, self.tmp / "receiver.log")
        self.children.append(self.receiver)
        crm_port = self.receiver.wait_for("ready", 30)["port"]
        self.crm = f"http://127.0.0.1:{crm_port}"
        live_agents, down_agents = agent_ranges(o)
        agents = live_agents + (f";{down_agents}" if o.down else "")
        source_argv = [py, str(BENCH / "e2e_load_source.py"), "--rate", str(o.rate), "--seconds", str(o.seconds),
                       "--ring", str(o.ring), "--talk", str(o.talk), "--agents", agents,
                       "--out", str(self.tmp / "triggers.json")]
        if o.calls:
            source_argv += ["--calls", str(o.calls)]
        self.source = Child("load source", source_argv, self.tmp / "source.log")
        self.children.append(self.source)
        self.source.on_fact = self.source_facts.append
        ready = self.source.wait_for("ready", 600)
        self.ready = ready
        rendered = "each rendered as it is due" if ready.get("lazy") else f"rendered in {ready['render_s']:.1f} s"
        self.say(f"load source: {ready['calls']} calls x {ready['events_per_call']} events "
                 f"({ready['bytes'] / 1e6:.0f} MB), {rendered}")
        customers = [{"code": "bench", "domain_crm": self.crm, "secret": "s3cret", "extensions": live_agents}]
        if o.down:
            down_crm = self.crm if o.down == "503" else f"http://127.0.0.1:{free_port()}"  # nobody listens
            customers.append({"code": "down", "domain_crm": down_crm, "secret": "s3cret", "extensions": down_agents})
        self.http_port = free_port()
        self.config = self.tmp / "connector.toml"
        extra = {k: dict(v) for k, v in o.connector_config.items()}
        self.drop_database = lambda: None
        if o.database:
            url, self.drop_database = e2e_shared.fresh_database(o.database)
            extra.setdefault("storage", {})["url"] = url
        if o.connectors > 1:
            extra.setdefault("delivery", {})["instance"] = "bench-a"
        write_config(self.config, ready["port"], self.http_port, customers, extra)
        self.connector = Child("connector", [py, "-m", "esl_connector.cli", "run", "-c", str(self.config)],
                               self.tmp / "connector.log", json_stdout=False)
        self.children.append(self.connector)
        # Connected, subscribed and resynced: it asks `api version` last.
        self.source.wait_for("command", 60, lambda f: f["command"] == "api version")
        self.health_url = f"http://127.0.0.1:{self.http_port}/api/v1/health"
        self.session = requests.Session()
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.session.get(self.health_url, timeout=5).json()["freeswitch"]["connected"]:
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            if time.monotonic() > deadline or self.connector.proc.poll() is not None:
                raise RuntimeError(f"connector not healthy; see {self.tmp / 'connector.log'}")
            time.sleep(0.1)
        self.second = None
        if o.connectors > 1:
            e2e_shared.start_second(self, Child, write_config, free_port, customers, extra)

    def health(self) -> tuple[dict, float]:
        t0 = time.monotonic()
        try:
            data = self.session.get(self.health_url, timeout=10).json()
        except (requests.RequestException, ValueError):
            data = {}
        return data, time.monotonic() - t0

    def counts(self) -> dict:
        try:
            return requests.get(self.crm + "/__count", timeout=10).json()
        except (requests.RequestException, ValueError):
            return {}

    def sample(self, go: float, phase: str) -> dict:
        health, health_s = self.health()
        crm = self.counts()
        stats = connector_stats(self.connector.proc.pid)
        writer = health.get("writer") or {}
        delivery = health.get("delivery") or {}
        esl = health.get("freeswitch") or {}
        live = sum(n for k, n in (crm.get("counts") or {}).items() if k.startswith("bench/") and k.endswith("/200"))
        started = max((f.get("calls_started", 0) for f in self.source_facts if f.get("event") == "progress"),
                      default=0)
        row = {"t": round(time.time() - go, 1), "phase": phase, "calls_started": started,
               "events_received": esl.get("events_received"), "writer_queue": writer.get("queued_changes"),
               "last_commit_ms": round(writer.get("last_commit_ms") or 0.0, 1), "backlog": delivery.get("backlog"),
               "crm_ok": live, "cpu_s": stats["cpu_s"], "rss_mib": round(stats["rss_mib"], 1),
               "health_ms": round(health_s * 1000, 1)}
        self.timeline.append(row)
        self.say("  t={t:6.1f}s {phase:5} calls {calls_started:6} | events in {events_received} | writer queue "
                 "{writer_queue} (last commit {last_commit_ms} ms) | outbox backlog {backlog} | CRM got {crm_ok} | "
                 "RSS {rss_mib} MiB | health {health_ms} ms".format(**row))
        return row

    def measure(self) -> dict:
        o = self.opts
        source_pid = self.source.proc.pid
        receiver_pid = self.receiver.proc.pid
        cpu0 = connector_stats(self.connector.proc.pid)["cpu_s"]
        self.children_cpu0 = connector_stats(self.connector.proc.pid)["children_cpu_s"]
        each0 = {pid: proc_stats(pid)["cpu_s"] for pid in child_pids(self.connector.proc.pid)}
        second0 = connector_stats(self.second.proc.pid)["cpu_s"] if self.second else 0.0
        other0 = proc_stats(source_pid)["cpu_s"], proc_stats(receiver_pid)["cpu_s"]
        profiler = None
        if o.profile:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            profiler = subprocess.Popen([py_spy, "record", "-p", str(self.connector.proc.pid), "-r", "97",
                                         "-d", str(int(math.ceil(o.seconds))), "-f", "raw", "-o", o.profile,
                                         "--nonblocking", "--threads", "--subprocesses",
                                         *(["--gil"] if o.profile_gil else [])],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        busy0, own0 = machine_busy_s(), proc_stats(os.getpid())["cpu_s"]
        go = time.time()
        self.source.tell("go")
        expected = self.ready["calls"] * 2 // (2 if o.down else 1)
        sent_fact = None
        next_poll = time.monotonic() + o.poll
        deadline = time.monotonic() + o.seconds + o.ring + o.talk + 300  # a stuck run still ends
        while sent_fact is None:
            if self.connector.proc.poll() is not None:
                raise RuntimeError(f"the connector exited; see {self.tmp / 'connector.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError("the load source did not finish sending")
            try:
                fact = self.source.facts.get(timeout=max(0.0, next_poll - time.monotonic()))
                if fact.get("event") == "sent":
                    sent_fact = fact
                elif fact.get("event") == "exited":
                    raise RuntimeError("load source exited")
                else:
                    self.source_facts.append(fact)
            except queue.Empty:
                pass
            if time.monotonic() >= next_poll:
                self.sample(go, "load")
                next_poll += o.poll
        load_end = time.time()
        self.source.wait_for("done", 60)
        cpu_load = connector_stats(self.connector.proc.pid)["cpu_s"] - cpu0
        busy = machine_busy_s() - busy0
        ours = (cpu_load + proc_stats(source_pid)["cpu_s"] - other0[0] + proc_stats(receiver_pid)["cpu_s"] - other0[1]
                + proc_stats(os.getpid())["cpu_s"] - own0)
        self.foreign_cores = max(0.0, busy - ours) / max(1e-9, load_end - go)
        # Drain: until every live webhook arrived, or the drain time is over.
        drain_deadline = time.monotonic() + o.drain
        last = None
        while True:
            crm = self.counts()
            live = sum(n for k, n in (crm.get("counts") or {}).items() if k.startswith("bench/"))
            if live >= expected or time.monotonic() > drain_deadline:
                break
            time.sleep(0.05)
            if last is None or time.monotonic() - last >= o.poll:
                last = time.monotonic()
                self.sample(go, "drain")
        end = self.sample(go, "end")
        stats = connector_stats(self.connector.proc.pid)
        each = [{"pid": pid, **proc_stats(pid)} for pid in child_pids(self.connector.proc.pid)]
        each = [{**c, "cpu_s": c["cpu_s"] - each0.get(c["pid"], 0.0)} for c in each]
        other1 = proc_stats(source_pid)["cpu_s"], proc_stats(receiver_pid)["cpu_s"]
        if profiler is not None:
            try:
                profiler.wait(timeout=o.seconds + 30)
            except subprocess.TimeoutExpired:
                profiler.kill()
        self.receiver.tell(f"dump {self.tmp / 'requests.json'}")
        self.receiver.wait_for("dumped", 60)
        requests_noted = json.loads((self.tmp / "requests.json").read_text())
        triggers = json.loads((self.tmp / "triggers.json").read_text())
        health, _ = self.health()
        result = self.analyse(go, load_end, sent_fact, triggers, requests_noted, cpu0, cpu_load, stats, end,
                              (other1[0] - other0[0], other1[1] - other0[1]), health)
        if self.second:
            result["second_cpu_s"] = connector_stats(self.second.proc.pid)["cpu_s"] - second0
            result["delivered_by"] = self.delivered_by(result["delivered"])
        result["database"] = "postgresql" if o.database.startswith("postgres") else "sqlite"
        result["delivery_processes"] = each  # each child of the connector: CPU during the run, RSS
        return result

    def delivered_by(self, delivered: int, timeout: float = 15.0) -> list[int | None]:
        """Each connector's count of delivered webhooks, once they add up to what the
        CRM received (a delivery process reports its outcomes to its connector a
        moment after the CRM has answered)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = [e2e_shared.delivered_by(u) for u in (self.health_url, self.second_health_url)]
            if sum(c or 0 for c in counts) >= delivered or time.monotonic() > deadline:
                return counts
            time.sleep(0.2)

    def analyse(self, go, load_end, sent, triggers, noted, cpu0, cpu_load, stats, end, others, health) -> dict:
        o = self.opts
        index = {callid: i for i, callid in enumerate(triggers["callids"])}
        sent_at = {"incoming_call": triggers["sent_incoming"], "call_answered": triggers["sent_log"]}
        rate = triggers["rate"]
        base, offsets = triggers["sched_base"], dict(zip(KINDS, triggers["offsets"]))
        latency = {k: [] for k in KINDS}
        from_schedule = {k: [] for k in KINDS}
        seen = set()
        duplicates = unknown = 0
        arrivals = []
        down_requests = 0
        for arrival, customer, kind, callid, _event_id, _status in noted:
            if customer != "bench":
                down_requests += 1
                continue
            i = index.get(callid)
            if i is None or kind not in latency:
                unknown += 1
                continue
            if (callid, kind) in seen:
                duplicates += 1
                continue
            seen.add((callid, kind))
            arrivals.append((arrival, kind))
            latency[kind].append((arrival - sent_at[kind][i]) * 1000)
            if rate > 0:
                from_schedule[kind].append((arrival - (base + i / rate + offsets[kind])) * 1000)
        calls = len(triggers["callids"])
        live_calls = calls // 2 if o.down else calls
        expected = live_calls * 2
        # While loaded: call logs that arrived between the first call's end
        # and the last event sent (steady state), per second.
        window = (go + o.ring + o.talk, load_end)
        in_window = sum(1 for a, kind in arrivals if kind == "call_answered" and window[0] <= a <= window[1])
        last_arrival = max((a for a, _ in arrivals), default=go)
        counts = (health.get("delivery") or {}).get("counts") or {}
        result = {
            "rate": o.rate, "seconds": o.seconds, "crm_delay": o.crm_delay, "down": o.down,
            "calls": calls, "events": sent["events"],
            "offered_calls_s": (calls - 1) / sent["starts_s"] if sent["starts_s"] else 0.0,
            "source_lag_p99_ms": sent["lag_p99_ms"], "source_lag_max_ms": sent["lag_max_ms"],
            "connections": sent["connections"],
            "expected": expected, "delivered": len(seen), "duplicates": duplicates, "unknown": unknown,
            "delivered_in_load_calls_s": in_window / max(1e-9, window[1] - window[0]),
            "delivered_calls_s": len(seen) / 2 / max(1e-9, last_arrival - go),
            "drain_s": max(0.0, last_arrival - load_end),
            "latency_ms": {k: {"p50": percentile(v, 50), "p99": percentile(v, 99), "max": max(v, default=float("nan")),
                               "n": len(v)} for k, v in latency.items()},
            "latency_from_schedule_ms": {k: {"p50": percentile(v, 50), "p99": percentile(v, 99)}
                                         for k, v in from_schedule.items()},
            "cpu_s": stats["cpu_s"] - cpu0, "cpu_load_s": cpu_load,
            "cpu_ms_per_call": 1000 * (stats["cpu_s"] - cpu0) / max(1, calls),
            "children_cpu_s": stats.get("children_cpu_s", 0.0) - getattr(self, "children_cpu0", 0.0),
            "cpu_load_pct": 100 * cpu_load / max(1e-9, load_end - go),
            "foreign_cores": self.foreign_cores, "cores": os.cpu_count(),
            "peak_rss_mib": stats["hwm_mib"], "rss_end_mib": stats["rss_mib"], "threads": stats["threads"],
            "source_cpu_s": others[0], "receiver_cpu_s": others[1],
            "down_requests": down_requests, "outbox": counts,
            "max_backlog": max((r["backlog"] or 0 for r in self.timeline), default=0),
            "max_writer_queue": max((r["writer_queue"] or 0 for r in self.timeline), default=0),
            "max_health_ms": max((r["health_ms"] for r in self.timeline), default=0.0),
            "backlog_at_load_end": next((r["backlog"] for r in reversed(self.timeline) if r["phase"] == "load"), None),
            "timeline": self.timeline, "end": end, "tmp": str(self.tmp),
        }
        return result

    def close(self) -> None:
        for child in reversed(self.children):
            try:
                if child is getattr(self, "source", None):
                    try:
                        child.tell("stop")
                    except (OSError, ValueError):
                        pass
                child.stop()
            except Exception as exc:  # never leave a process behind
                print(f"stopping {child.name}: {exc}", file=sys.stderr)
                child.proc.kill()
        try:
            getattr(self, "drop_database", lambda: None)()
        except Exception as exc:  # noqa: BLE001 - the run's figures still count
            print(f"dropping the run's database: {exc}", file=sys.stderr)
        if not self.opts.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def run_once(opts: Options) -> dict:
    run = Run(opts)
    try:
        run.start()
        return run.measure()
    finally:
        run.close()


def kept_up(result: dict, max_p99_ms: float) -> tuple[bool, str]:
    """Delivery kept up: everything delivered, soon after the load, within the p99 bound."""
    if result["delivered"] < result["expected"]:
        return False, f"{result['expected'] - result['delivered']} webhooks not delivered"
    worst = max(v["p99"] for v in result["latency_ms"].values())
    if worst > max_p99_ms:
        return False, f"p99 {worst:,.0f} ms > {max_p99_ms:,.0f} ms"
    if result["source_lag_p99_ms"] > 100:
        return False, f"ingest fell behind (source late by {result['source_lag_p99_ms']:.0f} ms at p99)"
    return True, "kept up"


# -- where the time goes (py-spy raw output) ------------------------------------------

# (label, a frame substring that puts a sample in it): the first label whose
# marker is anywhere in a sample's stack gets the sample.
STAGES = (
    ("JSON/ESL parsing", "parse_event ("), ("ESL socket reads", "ESLConnection.receive_events"),
    ("call tracker", "Tracker.handle"), ("writer.submit", "StorageWriter.submit"),
    ("writer transaction", "write_batch"), ("delivery: due rows query", "DueRows.page"),
    ("delivery: due rows query", "due_for_delivery"),
    ("delivery: outcome transaction", "apply_transition"), ("delivery: HTTP", "HttpSender."),
    ("delivery: other", "OutcomeRecorder."),
    ("delivery: other", "DeliveryEngine."), ("HTTP API (health)", "HttpApi"),
    ("threadpool hand-off", "gevent/threadpool.py"), ("gevent hub", "Hub.run"),
)


def sample_thread(frames: list[str]) -> str:
    """"connector thread (N)" or "delivery process thread (N)": py-spy's
    --subprocesses puts the process (and the child under it) before the thread."""
    head = [f for f in frames[:3] if f.startswith(("process ", "thread "))]
    who = "delivery process" if any("delivery.process" in f for f in head) else "connector"
    return f"{who} " + next((f for f in head if f.startswith("thread ")), "")


def summarize_profile(path: str) -> None:
    """Shares of the samples per thread and per stage, and the hottest frames."""
    threads: dict[str, int] = {}
    thread_stages: dict[tuple[str, str], int] = {}
    stages: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        thread = sample_thread(frames)
        threads[thread] = threads.get(thread, 0) + n
        stage = next((label for label, marker in STAGES if any(marker in f for f in frames)), "other")
        stages[stage] = stages.get(stage, 0) + n
        thread_stages[thread, stage] = thread_stages.get((thread, stage), 0) + n
        leaves[frames[-1]] = leaves.get(frames[-1], 0) + n
    if not total:
        print("profile: no samples")
        return
    print(f"\nprofile ({total} samples while not idle, all threads):")
    for thread, n in sorted(threads.items(), key=lambda x: -x[1]):
        top = sorted(((c, st) for (t, st), c in thread_stages.items() if t == thread), reverse=True)[:3]
        print(f"  {n / total:6.1%}  {thread}: " + ", ".join(f"{st} {c / n:.0%}" for c, st in top))
    print("  by stage:")
    for label, n in sorted(stages.items(), key=lambda x: -x[1]):
        print(f"  {n / total:6.1%}  {label}")
    print("  hottest frames (self):")
    for frame, n in sorted(leaves.items(), key=lambda x: -x[1])[:12]:
        print(f"  {n / total:6.1%}  {frame}")


# -- printing -------------------------------------------------------------------------

def fmt_ms(value: float) -> str:
    if value != value:  # nan
        return "-"
    return f"{value / 1000:.1f} s" if value >= 10000 else f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def report(result: dict, title: str = "") -> None:
    r = result
    print(f"\n== {title or 'run'}: {r['rate']:g} calls/s for {r['seconds']:g} s ==")
    print(f"offered   : {r['calls']} calls, {r['events']} events, {r['offered_calls_s']:.1f} calls/s "
          f"(source lag p99 {r['source_lag_p99_ms']:.1f} ms, max {r['source_lag_max_ms']:.1f} ms)")
    print(f"delivered : {r['delivered']}/{r['expected']} webhooks ({r['duplicates']} duplicates, "
          f"{r['unknown']} unknown); {r['delivered_in_load_calls_s']:.1f} calls/s while the load ran, "
          f"last one {r['drain_s']:.1f} s after the load ended")
    for kind, v in r["latency_ms"].items():
        print(f"latency   : {kind:<13} p50 {fmt_ms(v['p50'])}, p99 {fmt_ms(v['p99'])}, max {fmt_ms(v['max'])} "
              f"(n={v['n']})")
    print(f"backlog   : outbox max {r['max_backlog']}, at load end {r['backlog_at_load_end']}; writer queue max "
          f"{r['max_writer_queue']}; slowest health answer {r['max_health_ms']:.0f} ms")
    print(f"connector : CPU {r['cpu_s']:.1f} s ({r['cpu_load_pct']:.0f} % of a core during the load; "
          f"{r['cpu_ms_per_call']:.2f} ms per call, of which its delivery process {r['children_cpu_s']:.1f} s), "
          f"peak RSS {r['peak_rss_mib']:.0f} MiB (processes summed), {r['threads']} threads; "
          f"database {r.get('database')}")
    if r.get("delivery_processes"):
        each = r["delivery_processes"]
        print(f"delivery  : {len(each)} process(es), CPU {sum(c['cpu_s'] for c in each):.1f} s = "
              f"{1000 * sum(c['cpu_s'] for c in each) / max(1, r['delivered']):.2f} ms per webhook, RSS "
              f"{sum(c['rss_mib'] for c in each):.0f} MiB; each: " + "; ".join(
                  f"pid {c['pid']} CPU {c['cpu_s']:.1f} s, RSS {c['rss_mib']:.0f} MiB (peak {c['hwm_mib']:.0f})"
                  for c in each))
    if "second_cpu_s" in r:
        cpu = r["cpu_s"] + r["second_cpu_s"]
        print(f"2 procs   : second connector CPU {r['second_cpu_s']:.1f} s; both {cpu:.1f} s = "
              f"{1000 * cpu / max(1, r['calls']):.1f} ms per call; webhooks delivered by each {r['delivered_by']}")
    print(f"others    : source CPU {r['source_cpu_s']:.1f} s, receiver CPU {r['receiver_cpu_s']:.1f} s; "
          f"processes outside the benchmark used {r['foreign_cores']:.2f} of the {r['cores']} cores during the load")
    if r.get("down"):
        print(f"down CRM  : {r['down_requests']} requests reached it ({r['down']}); outbox of both customers by "
              f"status at the end: {r['outbox']}")


def parse_rates(spec: str) -> list[float]:
    return [float(x) for x in spec.split(",") if x.strip()]


def step(opts: Options, rates: list[float], max_p99_ms: float, bisect: int) -> None:
    results = []
    knee_ok, knee_fail = None, None
    for rate in rates:
        o = Options(**{**opts.__dict__, "rate": rate})
        result = run_once(o)
        ok, why = kept_up(result, max_p99_ms)
        results.append((rate, ok, why, result))
        report(result, f"step {rate:g} calls/s: {why}")
        if ok:
            knee_ok = rate
        else:
            knee_fail = rate
            break
    while bisect > 0 and knee_ok is not None and knee_fail is not None and knee_fail - knee_ok > 5:
        bisect -= 1
        rate = round((knee_ok + knee_fail) / 2)
        result = run_once(Options(**{**opts.__dict__, "rate": rate}))
        ok, why = kept_up(result, max_p99_ms)
        results.append((rate, ok, why, result))
        report(result, f"step {rate:g} calls/s: {why}")
        knee_ok, knee_fail = (rate, knee_fail) if ok else (knee_ok, rate)
    print("\n| calls/s | delivered | while loaded, calls/s | drain after load | incoming_call p50 / p99 | "
          "call_answered p50 / p99 | outbox backlog max | connector CPU | peak RSS | other processes | verdict |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rate, _ok, why, r in sorted(results, key=lambda x: x[0]):
        ic, ca = r["latency_ms"]["incoming_call"], r["latency_ms"]["call_answered"]
        print(f"| {rate:g} | {r['delivered']}/{r['expected']} | {r['delivered_in_load_calls_s']:.0f} | "
              f"{r['drain_s']:.1f} s | {fmt_ms(ic['p50'])} / {fmt_ms(ic['p99'])} | {fmt_ms(ca['p50'])} / "
              f"{fmt_ms(ca['p99'])} | {r['max_backlog']} | {r['cpu_load_pct']:.0f} % | "
              f"{r['peak_rss_mib']:.0f} MiB | {r['foreign_cores']:.1f} cores | {why} |")
    print(f"\nknee: {knee_ok if knee_ok is not None else '< ' + str(rates[0])} calls/s kept up"
          + (f", {knee_fail:g} calls/s did not" if knee_fail is not None else " (highest rate tried)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--rate", type=float, default=50.0, help="calls/s offered")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long the load runs")
    parser.add_argument("--ring", type=float, default=0.5, help="seconds the agent rings before answering")
    parser.add_argument("--talk", type=float, default=1.0, help="seconds from answer to hangup")
    parser.add_argument("--crm-delay", type=float, default=0.0, help="the CRM answers this many seconds late")
    parser.add_argument("--down", choices=("refuse", "503"), default="",
                        help="a second customer (half the calls) whose CRM refuses connections or answers 503")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between health samples")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the backlog after the load")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a connector setting (TOML value), e.g. storage.commit_window=0.02")
    parser.add_argument("--step", metavar="RATES", help="comma-separated rates: find the highest sustained one")
    parser.add_argument("--max-p99", type=float, default=2000.0, help="step mode: p99 bound in ms")
    parser.add_argument("--bisect", type=int, default=1, help="step mode: extra runs between the last good and "
                                                              "the first bad rate")
    parser.add_argument("--profile", metavar="FILE", help="py-spy record the connector during the load (raw)")
    parser.add_argument("--profile-gil", action="store_true",
                        help="with --profile: only samples of the thread holding the GIL (Python CPU, "
                             "no lock or I/O waits)")
    parser.add_argument("--ingest-compare", action="store_true",
                        help="flat-out ingest: the connector against a bare greenswitch loop")
    parser.add_argument("--calls", type=int, default=3000, help="--ingest-compare: calls sent flat out")
    parser.add_argument("--repeat", type=int, default=1, help="--ingest-compare: rounds (medians printed)")
    parser.add_argument("--readers", default=",".join(e2e_ingest_compare.READERS),
                        help="--ingest-compare: which readers, comma-separated")
    parser.add_argument("--bare-queue", type=int, default=10000,
                        help="--ingest-compare: bound of the bare loop's event queue (0: unbounded)")
    parser.add_argument("--json", metavar="FILE", help="write the result(s) as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    parser.add_argument("--database", default="", metavar="URL",
                        help="postgresql://user:password@host:port/db: run on a fresh database on that server "
                             "(the role needs CREATEDB) instead of SQLite")
    parser.add_argument("--connectors", type=int, choices=(1, 2), default=1,
                        help="2: a second connector process on the same database, delivering only")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the processes on SIGTERM too
    extra: dict = {}
    for item in args.set:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        extra.setdefault(section, {})[name] = parsed
    if args.ingest_compare:
        e2e_ingest_compare.ingest_compare(args.calls, extra, args.repeat, tuple(args.readers.split(",")),
                                          args.bare_queue, args.profile or "", args.profile_gil)
        if args.profile:
            summarize_profile(args.profile)
        return
    opts = Options(rate=args.rate, seconds=args.seconds, ring=args.ring, talk=args.talk, crm_delay=args.crm_delay,
                   down=args.down, poll=args.poll, drain=args.drain, connector_config=extra,
                   profile=args.profile or "", profile_gil=args.profile_gil, keep=args.keep,
                   database=args.database, connectors=args.connectors)
    if args.step:
        return step(opts, parse_rates(args.step), args.max_p99, args.bisect)
    result = run_once(opts)
    if args.profile:
        summarize_profile(args.profile)
    report(result, " ".join(filter(None, [f"crm delay {args.crm_delay:g} s" if args.crm_delay else "",
                                          f"second customer down ({args.down})" if args.down else ""])))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
