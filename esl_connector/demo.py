"""``esl-connector demo``: the whole product on one machine.

The built-in FreeSWITCH simulator generates calls; the connector follows them
over a real Event Socket connection, stores them in SQLite and derives the CRM
events; two local CRM receivers show what a CRM gets: customer ``demo``'s
always answers, customer ``flaky``'s fails now and then (503: retried; 400: a
dead letter at once), so retries and dead letters show. ``flaky``'s call logs
go to the steady receiver: a customer with two CRM endpoints, one failing.

On a terminal the TUI (``python -m tui``, a separate process) shows it all and
quitting it stops everything; otherwise, or with ``--no-tui``, one line per
webhook received.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gevent
from gevent.event import Event

from .app import Connector
from .crm_receiver import CrmReceiver
from .settings.config import settings_from_dict
from .simulator import Simulator, run_traffic
from .simulator.traffic import start_one

DEMO_SECRET = "demo-secret"            # the CRM's secret, sent with every webhook
DEMO_CLICK2CALL_SECRET = "demo-click2call"  # the PBX's secret, for the CRM's click-to-call
FLAKY_SECRET = "flaky-secret"


class FlakyCrm:
    """A CRM that fails now and then: every ``retry_every``-th request gets 503
    (the connector retries it), every ``dead_every``-th 400 (a dead letter at
    once). 0 turns either off."""

    def __init__(self, retry_every: int = 4, dead_every: int = 9):
        self.retry_every, self.dead_every, self.count = retry_every, dead_every, 0

    def __call__(self, _request) -> int:
        self.count += 1
        if self.dead_every and self.count % self.dead_every == 0:
            return 400
        if self.retry_every and self.count % self.retry_every == 0:
            return 503
        return 200


def split_extensions(extensions: list[str]) -> tuple[list[str], list[str]]:
    """The first half (at least one) for ``demo``, the rest for ``flaky``."""
    half = max(1, (len(extensions) + 1) // 2)
    return extensions[:half], extensions[half:]


def _customer(code: str, url: str, secret: str, extensions: list[str]) -> dict:
    return {"code": code, "domain_crm": url, "secret": secret, "extensions": ",".join(extensions),
            "click2call": {"secret": DEMO_CLICK2CALL_SECRET, "gateway": "pstn", "caller_id_number": "0281234567"}}


def demo_settings(db_path: Path, sim_port: int | list[int], receiver_url: str, extensions: list[str],
                  flaky_url: str | None = None, api_token: str = "", delivery: dict | None = None) -> dict:
    """``sim_port``: one simulator's port, or a list: one FreeSWITCH node each (pbx1, pbx2...)."""
    steady, rest = split_extensions(extensions) if flaky_url else (extensions, [])
    customers = [_customer("demo", receiver_url, DEMO_SECRET, steady)]
    if rest:
        customers.append(_customer("flaky", flaky_url, FLAKY_SECRET, rest))
        customers[-1]["events"] = {"call_answered": {"url": f"{receiver_url}/wsapi/flaky/call_answered"}}
    return {
        "freeswitch": _nodes(sim_port),
        "storage": {"url": f"sqlite:///{db_path}", "commit_window": 0.0},
        "logging": {"level": "WARNING"},
        "http": {"port": 0, "api_token": api_token},
        "customers": customers,
        **({"delivery": delivery} if delivery else {}),
    }


def _nodes(ports: int | list[int]) -> dict | list[dict]:
    node = {"host": "127.0.0.1", "password": "ClueCon", "resync_delay": 0.2}
    if isinstance(ports, int):
        return {**node, "port": ports}
    return [{**node, "node": f"pbx{i}", "port": port} for i, port in enumerate(ports, 1)]


def format_request(request) -> str:
    """One line per webhook the CRM received, as the CRM saw it."""
    p = dict(request.query)
    p.pop("secret", None)
    body = request.json() if request.body else None
    if isinstance(body, dict):
        p.update(body)
    when = time.strftime("%H:%M:%S", time.localtime(request.received_at))
    detail = ""
    if request.event_type == "call_answered":
        detail = (f"status={p.get('status')} duration={p.get('duration')}s billsec={p.get('billsec')}s"
                  + (f" userfield={p['userfield']}" if p.get("userfield") else "")
                  + (" +recording" if p.get("recording") else ""))
    answer = "" if request.status == 200 else f"  -> answered {request.status}"
    return (f"{when}  {request.method:<4} {request.customer}/{request.event_type:<14} ext {p.get('extension', ''):<5} "
            f"phone {p.get('phone', ''):<11} call {str(p.get('callid', ''))[:8]}  {detail}{answer}").rstrip()


@dataclass
class DemoStack:
    """The simulator, the connector and the CRM receivers, running."""

    sim: Simulator
    connector: Connector
    receivers: list[CrmReceiver]
    more_sims: list[Simulator] = field(default_factory=list)  # the other nodes' (demo --nodes)

    @property
    def sims(self) -> list[Simulator]:
        return [self.sim, *self.more_sims]

    @property
    def api_url(self) -> str:
        return self.connector.http.url

    def stop(self) -> None:
        self.connector.stop()
        for sim in self.sims:
            sim.stop()
        for receiver in self.receivers:
            receiver.stop()


def start_stack(extensions: list[str], speed: float, db_path: Path, *,
                on_request: Callable | None = None, flaky: FlakyCrm | None = None,
                api_token: str = "", delivery: dict | None = None, nodes: int = 1,
                log_file: str | None = None) -> DemoStack:
    """Start everything with an empty database; ``flaky`` None: one steady CRM only;
    ``log_file``: where this process logs (the delivery process logs there too);
    ``delivery``: the connector's ``[delivery]`` settings (tests shorten ``max_age``);
    ``nodes`` > 1: that many simulated FreeSWITCH nodes (pbx1, pbx2...), each with
    the same extensions."""
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)  # each demo starts empty: old events would go to a new receiver
    receivers = [CrmReceiver(on_request=on_request).start()]
    if flaky is not None:
        receivers.append(CrmReceiver(on_request=on_request, status_for=flaky).start())
    names = [f"pbx{i}" for i in range(1, nodes + 1)] if nodes > 1 else [None]
    sims = [Simulator(speed=speed, extensions=extensions, hostname=name).start() for name in names]
    for sim in sims:
        sim.pbx.register_all()
    flaky_url = receivers[1].url if flaky is not None else None
    ports = [sim.address[1] for sim in sims] if nodes > 1 else sims[0].address[1]
    settings = settings_from_dict(demo_settings(db_path, ports, receivers[0].url, extensions,
                                                flaky_url, api_token, delivery), "demo")
    connector = Connector(settings, log_file=log_file).start()
    for sim in sims:
        gevent.spawn(_register_again, sim, connector)
    return DemoStack(sims[0], connector, receivers, sims[1:])


def _register_again(sim: Simulator, connector: Connector, timeout: float = 10.0) -> None:
    """The phones register again once the connector has read FreeSWITCH's
    registrations, as phones do every few minutes: that list has no user
    agent, a REGISTER does, and the TUI shows it."""
    deadline = time.monotonic() + timeout
    while not connector.resyncs and time.monotonic() < deadline:
        gevent.sleep(0.05)
    sim.pbx.register_all()


def _introduce(stack: DemoStack, extensions: list[str], echo: Callable[[str], None]) -> None:
    urls = " and ".join(r.url for r in stack.receivers)
    where = ", ".join(f"127.0.0.1:{sim.address[1]}" for sim in stack.sims)
    several = f"{len(stack.sims)} FreeSWITCH simulators (nodes pbx1..pbx{len(stack.sims)}) on" if stack.more_sims \
        else "FreeSWITCH simulator on"
    echo(f"{several} {where} ({len(extensions)} extensions), CRM receiver on {urls}")
    api = stack.api_url
    echo(f"Connector HTTP API on {api}: status {api}/api/v1/calls, click-to-call e.g.\n"
         f"  curl '{api}/wsapi/demo/click2call.php?secret={DEMO_CLICK2CALL_SECRET}"
         f"&extension={extensions[0]}&phone=0904824242&userfield=ORDER-1'")


def run_demo(extensions: list[str], calls_per_second: float, speed: float, db_path: Path,
             duration: float | None, echo: Callable[[str], None] = print, tui: bool = False,
             nodes: int = 1, seed: int | None = None, log_file: str | None = None) -> int:
    """Run until Ctrl-C/SIGTERM, ``duration`` seconds, or (``tui``) the TUI is quit.
    A ``seed`` makes the calls the same on every run; ``log_file``: where this
    process logs (None: stderr). Returns the exit status."""
    stack = start_stack(extensions, speed, db_path, flaky=FlakyCrm(), nodes=nodes, log_file=log_file,
                        on_request=None if tui else (lambda request: echo(format_request(request))))
    _introduce(stack, extensions, echo)
    stop = Event()
    import signal
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.signal_handler(signal.SIGINT, stop.set)
    start_one(stack.sim.pbx, random.Random(seed), extensions)  # something to see at once, then the traffic
    rate = calls_per_second / len(stack.sims)  # the same traffic in all, shared by the nodes
    workers = [gevent.spawn(run_traffic, sim.pbx, rate, extensions, None, None if seed is None else seed + i)
               for i, sim in enumerate(stack.sims)]
    viewer = None
    try:
        if tui:
            echo(f"Opening the TUI (q quits the TUI and the demo; connector log: {db_path.with_suffix('.log')})")
            viewer = subprocess.Popen([sys.executable, "-m", "tui", "--url", stack.api_url])
            workers.append(gevent.spawn(viewer.wait))
            workers[-1].link(lambda _g: stop.set())
        else:
            echo(f"Generating {calls_per_second} calls/s at {speed}x speed. Each line is a webhook the CRM "
                 f"received. Ctrl-C to stop.")
        stop.wait(duration)
    finally:
        stop.set()
        if viewer is not None and viewer.poll() is None:
            viewer.terminate()
            viewer.wait(timeout=5)
        gevent.killall(workers)
        stack.stop()
    return viewer.returncode if viewer is not None and viewer.returncode and viewer.returncode > 0 else 0
