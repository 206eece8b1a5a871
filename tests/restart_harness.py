"""The connector as a real process (``esl-connector run``) against the built-in
simulator and a CRM receiver running in the test process, for restart tests:
start it, signal it, wait until it has read FreeSWITCH's state again; and what
the simulator did (each call's truth) next to what the CRM received."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from esl_connector.crm_receiver import CrmReceiver
from esl_connector.simulator import Simulator
from esl_connector.simulator.cdr import CdrFiles

from esl_fake_server import wait_until

EXTENSIONS = [str(n) for n in range(101, 131)]
START_EVENTS = ("incoming_call", "outgoing_call")
STATUS_OF_OUTCOME = {"answered": "ANSWERED", "busy": "BUSY", "no_answer": "NO ANSWER", "cancel": "NO ANSWER"}


def write_config(path: Path, db: Path, sim_port: int, crm_url: str, extensions: str,
                 delivery: str = "", extra: str = "") -> Path:
    path.write_text(f"""
[freeswitch]
host = "127.0.0.1"
port = {sim_port}
password = "ClueCon"
resync_delay = 0.0
heartbeat_timeout = 5.0
reconnect_max_delay = 0.5
command_timeout = 5.0

[storage]
url = "sqlite:///{db}"
commit_window = 0.05

[delivery]
poll_interval = 0.2
{delivery}

[http]
port = 0

[logging]
level = "INFO"

[[customers]]
code = "acme"
domain_crm = "{crm_url}"
secret = "s3cret"
extensions = "{extensions}"
{extra}
""")
    return path


class ChannelReads:
    """Counts ``show channels`` requests the simulator answers: a connector
    that has asked has subscribed and is reading FreeSWITCH's state."""

    def __init__(self, sim: Simulator):
        self.times: list[float] = []
        original = sim.pbx.api

        def api(command: str, args: str = "") -> str:
            if command.strip() == "show" and args.strip().startswith("channels"):
                self.times.append(time.monotonic())
            return original(command, args)
        sim.pbx.api = api

    def first_after(self, moment: float) -> float | None:
        return next((t for t in self.times if t >= moment), None)


@dataclass
class ConnectorProcess:
    config: Path
    log_path: Path
    reads: ChannelReads
    proc: subprocess.Popen | None = None
    exits: list[int] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> float:
        """Start it; return when it has read FreeSWITCH's channels (monotonic time)."""
        begun = time.monotonic()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "esl_connector.cli", "run", "-c", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_until(lambda: self.reads.first_after(begun) or self.proc.poll() is not None, timeout=timeout,
                   what="the connector's resync")
        assert self.proc.poll() is None, f"the connector exited: {self.log_tail()}"
        wait_until(self.delivering, timeout=timeout, what="the delivery process ready")
        return self.reads.first_after(begun)

    def delivering(self) -> bool:
        """The delivery process of the last start is ready (at once with delivery inline)."""
        last = self.log_path.read_text(errors="replace").split("delivery process started")
        return len(last) == 1 or "is delivering" in last[-1]

    def signal(self, sig: int, timeout: float = 30.0) -> int:
        self.proc.send_signal(sig)
        wait_until(lambda: self.proc.poll() is not None, timeout=timeout, what=f"exit after signal {sig}")
        self.exits.append(self.proc.returncode)
        return self.proc.returncode

    def stop(self) -> int:
        return self.signal(signal.SIGTERM)

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def health(self) -> dict:
        """The running process's ``/api/v1/health`` (its HTTP port is read from its log)."""
        import re

        import requests
        urls = re.findall(r"HTTP API listening on (\S+)", self.log_path.read_text(errors="replace"))
        return requests.get(urls[-1] + "/api/v1/health", timeout=30).json()  # a loaded machine: seconds

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def fields_of(request) -> dict:
    data = dict(request.query)
    body = request.json() if request.body else None
    if isinstance(body, dict):
        data.update(body)
    return data


@dataclass
class Received:
    """What the CRM got, per call: each event type's distinct event ids and fields."""

    ids: dict = field(default_factory=lambda: defaultdict(set))  # (callid, type, ext) -> {event id}
    logs: dict = field(default_factory=dict)  # callid -> the call log's fields

    @classmethod
    def of(cls, receiver: CrmReceiver) -> Received:
        seen = cls()
        for request in list(receiver.requests):
            data = fields_of(request)
            key = (str(data.get("callid")), request.event_type,
                   "" if request.event_type == "call_answered" else str(data.get("extension")))
            seen.ids[key].add(request.headers.get("X-Event-Id"))
            if request.event_type == "call_answered":
                seen.logs[key[0]] = data
        return seen

    def duplicates(self) -> dict:
        """Events derived more than once (distinct event ids for one event)."""
        return {key: ids for key, ids in self.ids.items() if len(ids) > 1}


@dataclass
class SimCall:
    """The simulator's truth about one call."""

    call: object
    started: float
    ended: float | None = None

    @property
    def reached_extension(self) -> bool:
        return any(leg.kind in ("agent", "ext_out") for leg in self.call.legs.values())

    @property
    def callid(self) -> str:
        return next(iter(self.call.legs.values())).uuid

    def truth(self) -> dict:
        legs = {leg.kind: leg for leg in self.call.legs.values()}
        if "did" in legs:
            agent, talking, phone = legs["agent"], legs["agent"], legs["did"].profile.cid_num
        else:
            agent, talking, phone = legs["ext_out"], legs["gateway"], legs["gateway"].profile.dest
        billsec = (talking.hungup // 10**6 - talking.answered // 10**6) if talking.answered else 0
        return {"extension": agent.extension, "phone": phone, "billsec": billsec,
                "status": STATUS_OF_OUTCOME.get(self.call.outcome, self.call.outcome)}


def watch_calls(sim: Simulator) -> list[SimCall]:
    """Every call the simulator starts from now on, with real start/end times."""
    calls: list[SimCall] = []
    original = sim.pbx._start

    def start(call):
        record = SimCall(call, time.monotonic())
        calls.append(record)
        started = original(call)
        started.greenlet.link(lambda _g: setattr(record, "ended", time.monotonic()))
        return started
    sim.pbx._start = start
    return calls


def stored_calls(db_path: Path) -> dict[str, dict]:
    """callid -> the stored call row (read with plain sqlite3, not the app's models)."""
    import sqlite3
    with sqlite3.connect(db_path) as conn:
        conn.row_factory = sqlite3.Row
        return {row["callid"]: dict(row) for row in conn.execute("SELECT * FROM calls")}


def dumps(value) -> str:
    return json.dumps(value, default=str, indent=1)[:4000]


def restart_rig(tmp_path, cdr_files: bool = False):
    """For a fixture: yields (simulator, CRM receiver, connector process (not
    started), database path), and tears them down. ``cdr_files``: the simulator
    writes every leg's CDR to a directory, as mod_json_cdr's log-dir, which the
    connector reads (at start and every half second)."""
    sim = Simulator(speed=20.0, extensions=EXTENSIONS, heartbeat_interval=20.0).start()
    sim.pbx.register_all()
    extra = ""
    if cdr_files:
        sim.pbx.add_cdr_output(CdrFiles(str(tmp_path / "cdr")))
        extra = f'[cdr]\ndirectories = ["{tmp_path / "cdr"}"]\nscan_interval = 0.5\ncomplete_after = 2.0\n'
    receiver = CrmReceiver().start()
    reads = ChannelReads(sim)
    db = tmp_path / "connector.db"
    config = write_config(tmp_path / "connector.toml", db, sim.address[1], receiver.url,
                          f"{EXTENSIONS[0]}-{EXTENSIONS[-1]}", extra=extra)
    process = ConnectorProcess(config, tmp_path / "connector.log", reads)
    yield sim, receiver, process, db
    process.kill_if_running()
    sim.stop()
    receiver.stop()


def answered_call(sim, talk_time=600.0):
    """An inbound call to 101, answered (returns once the agent has answered)."""
    sim.pbx.configure("101", answer_after=1.0, talk_time=talk_time)
    call = sim.pbx.inbound_call(caller="0904824242", did="19001234", ring=["101"])
    wait_until(lambda: call.legs.get("agent:101") is not None and call.legs["agent:101"].answered,
               what="the agent answered")
    return call
