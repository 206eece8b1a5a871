"""``esl-connector demo``: the whole product on one machine.

The built-in FreeSWITCH simulator generates calls; the connector follows them
over a real Event Socket connection, stores them in SQLite and derives the CRM
events; a local CRM receiver shows what a CRM gets. One line per CRM event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import gevent

from .app import Connector
from .crm_receiver import CrmReceiver
from .settings.config import settings_from_dict
from .simulator import Simulator, run_traffic

DEMO_SECRET = "demo-secret"            # the CRM's secret, sent with every webhook
DEMO_CLICK2CALL_SECRET = "demo-click2call"  # the PBX's secret, for the CRM's click-to-call


def demo_settings(db_path: Path, sim_port: int, receiver_url: str, extensions: list[str]) -> dict:
    return {
        "freeswitch": {"host": "127.0.0.1", "port": sim_port, "password": "ClueCon", "resync_delay": 0.2},
        "storage": {"url": f"sqlite:///{db_path}", "commit_window": 0.0},
        "logging": {"level": "WARNING"},
        "http": {"port": 0},
        "customers": [{"code": "demo", "domain_crm": receiver_url, "secret": DEMO_SECRET,
                       "extensions": ",".join(extensions),
                       "click2call": {"secret": DEMO_CLICK2CALL_SECRET, "gateway": "pstn",
                                      "caller_id_number": "0281234567"}}],
    }


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
    return (f"{when}  {request.method:<4} {request.customer}/{request.event_type:<14} ext {p.get('extension', ''):<5} "
            f"phone {p.get('phone', ''):<11} call {str(p.get('callid', ''))[:8]}  {detail}").rstrip()


def run_demo(extensions: list[str], calls_per_second: float, speed: float, db_path: Path,
             duration: float | None, echo: Callable[[str], None] = print) -> None:
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)  # each demo starts empty: old events would go to a new receiver
    receiver = CrmReceiver(on_request=lambda request: echo(format_request(request))).start()
    sim = Simulator(speed=speed, extensions=extensions).start()
    sim.pbx.register_all()
    settings = settings_from_dict(demo_settings(db_path, sim.address[1], receiver.url, extensions), "demo")
    connector = Connector(settings).start()
    echo(f"FreeSWITCH simulator on 127.0.0.1:{sim.address[1]} ({len(extensions)} extensions), "
         f"CRM receiver on {receiver.url}, database {db_path}")
    api = connector.http.url
    echo(f"Connector HTTP API on {api}: status {api}/api/v1/calls, click-to-call e.g.\n"
         f"  curl '{api}/wsapi/demo/click2call.php?secret={DEMO_CLICK2CALL_SECRET}"
         f"&extension={extensions[0]}&phone=0904824242&userfield=ORDER-1'")
    echo(f"Generating {calls_per_second} calls/s at {speed}x speed. Each line is a webhook the CRM "
         f"received. Ctrl-C to stop.")
    stop = gevent.event.Event()
    workers = [gevent.spawn(run_traffic, sim.pbx, calls_per_second, extensions, None, None)]
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
        gevent.killall(workers)
        connector.stop()
        sim.stop()
        receiver.stop()
