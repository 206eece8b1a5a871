"""``esl-connector demo``: the whole product on one machine.

The built-in FreeSWITCH simulator generates calls; the connector follows them
over a real Event Socket connection, stores them in SQLite and derives the CRM
events; a local CRM receiver shows what a CRM gets. One line per CRM event.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import gevent

from storage import queries

from .app import Connector
from .config import settings_from_dict
from .crm_receiver import CrmReceiver
from .simulator import Simulator, run_traffic


def demo_settings(db_path: Path, sim_port: int, receiver_url: str, extensions: list[str]) -> dict:
    return {
        "freeswitch": {"host": "127.0.0.1", "port": sim_port, "password": "ClueCon", "resync_delay": 0.2},
        "storage": {"url": f"sqlite:///{db_path}", "commit_window": 0.1},
        "logging": {"level": "WARNING"},
    }


def format_event(row) -> str:
    p = row.params
    when = time.strftime("%H:%M:%S", time.localtime(row.created_at))
    if row.event_type == "call_answered":
        detail = (f"status={p.get('status')} duration={p.get('duration')}s billsec={p.get('billsec')}s"
                  + (f" userfield={p['userfield']}" if p.get("userfield") else "")
                  + (" recording" if p.get("recording") else ""))
    else:
        detail = ""
    return (f"{when}  {row.event_type:<14} ext {row.extension:<5} phone {p.get('phone', ''):<11} "
            f"call {row.callid[:8]}  {detail}").rstrip()


def follow_outbox(connector: Connector, echo: Callable[[str], None], stop: gevent.event.Event) -> None:
    last_id = 0
    while not stop.is_set():
        rows = [r for r in reversed(queries.list_outbox(connector.db, limit=200)) if r.id > last_id]
        for row in rows:
            echo(format_event(row))
            last_id = row.id
        stop.wait(0.5)


def run_demo(extensions: list[str], calls_per_second: float, speed: float, db_path: Path,
             duration: float | None, echo: Callable[[str], None] = print) -> None:
    receiver = CrmReceiver().start()
    sim = Simulator(speed=speed, extensions=extensions).start()
    sim.pbx.register_all()
    settings = settings_from_dict(demo_settings(db_path, sim.address[1], receiver.url, extensions), "demo")
    connector = Connector(settings).start()
    echo(f"FreeSWITCH simulator on 127.0.0.1:{sim.address[1]} ({len(extensions)} extensions), "
         f"CRM receiver on {receiver.url}, database {db_path}")
    echo(f"Generating {calls_per_second} calls/s at {speed}x speed. Ctrl-C to stop.")
    stop = gevent.event.Event()
    workers = [gevent.spawn(follow_outbox, connector, echo, stop),
               gevent.spawn(run_traffic, sim.pbx, calls_per_second, extensions, None, None)]
    try:
        if duration is None:
            import signal
            gevent.signal_handler(signal.SIGTERM, stop.set)
            gevent.signal_handler(signal.SIGINT, stop.set)
            stop.wait()
        else:
            stop.wait(duration)
    finally:
        stop.set()
        gevent.killall(workers[1:])
        connector.stop()
        workers[0].join(2)
        sim.stop()
        receiver.stop()
