"""The connector side of the TUI tests, in its own process (gevent there,
Textual's asyncio in pytest's): the demo's simulator, connector and CRM
receivers, with no random traffic, a bearer token, and customer ``flaky``'s
CRM answering 400 to everything (each of its events is a dead letter at once).
Customer ``flaky`` has two CRM endpoints: its call logs (call_answered) go to
a receiver of their own, which answers as the other one unless told otherwise.
Deliveries give up after ``MAX_AGE`` seconds, so a retried one is dead soon.

Prints one JSON line ({"api": URL, "token": ..., "extensions": [...]}) when
ready; then reads commands, one JSON object a line, on its standard input:

    {"do": "inbound", "ring": "101", "answer_after": 40, "talk_time": 60}
        a PSTN call rings 101 (for up to 120 simulated seconds), which answers after 40 and
        talks for 60 (the simulator runs at SPEED x)
    {"do": "flaky", "status": 503}   the flaky CRM answers 503 to everything
    {"do": "flaky", "status": 503, "hold_after": 1}  ... and holds every request after the
        first until the next "flaky" command (a row stays retrying while its retry is held)
    {"do": "flaky", "status": null}  ... back to 400 to everything
    {"do": "flaky_logs", "status": 200}  flaky's call-log endpoint answers 200 (null: as the other)

Stops on SIGTERM or when its standard input closes (pytest is gone).

    python tests/tui_backend.py DB_PATH
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.fileobject import FileObjectPosix  # noqa: E402

from esl_connector.app import Connector  # noqa: E402
from esl_connector.crm_receiver import CrmReceiver  # noqa: E402
from esl_connector.demo import DemoStack, FlakyCrm, _register_again, demo_settings  # noqa: E402
from esl_connector.settings.config import settings_from_dict  # noqa: E402
from esl_connector.simulator import Simulator  # noqa: E402

TOKEN = "tui-test-token-0123456789"
EXTENSIONS = ["101", "102", "103", "104"]  # demo: 101-102, flaky: 103-104
SPEED = 20.0
MAX_AGE = 10.0  # a first retry comes 4-6 s after a failure (room for a slow first attempt); the next: dead


class SwitchableCrm:
    """The flaky CRM's answers: ``status`` when set, else ``FlakyCrm``'s."""

    def __init__(self, flaky):
        self.flaky, self.status = flaky, None
        self.hold_after, self.answered, self.released = None, 0, Event()

    def switch(self, status, hold_after=None) -> None:
        self.released.set()  # what was held goes on, answered as told now
        self.status, self.hold_after, self.answered, self.released = status, hold_after, 0, Event()

    def __call__(self, request) -> int:
        self.answered += 1
        if self.hold_after is not None and self.answered > self.hold_after:
            self.released.wait()
        return self.status if self.status is not None else self.flaky(request)


def start_stack(crm: SwitchableCrm, logs: SwitchableCrm, db_path: Path) -> DemoStack:
    """The demo's stack (``demo.start_stack``) plus flaky's call-log receiver."""
    receivers = [CrmReceiver().start(), CrmReceiver(status_for=crm).start(), CrmReceiver(status_for=logs).start()]
    sim = Simulator(speed=SPEED, extensions=EXTENSIONS).start()
    sim.pbx.register_all()
    data = demo_settings(Path(db_path), sim.address[1], receivers[0].url, EXTENSIONS, receivers[1].url, TOKEN,
                         {"max_age": MAX_AGE})
    flaky = next(c for c in data["customers"] if c["code"] == "flaky")
    flaky["events"] = {"call_answered": {"url": f"{receivers[2].url}/wsapi/flaky/call_answered"}}
    connector = Connector(settings_from_dict(data, "tui-test")).start()
    gevent.spawn(_register_again, sim, connector)
    return DemoStack(sim, connector, receivers)


def run_command(stack, crm: SwitchableCrm, logs: SwitchableCrm, command: dict) -> None:
    if command["do"] == "inbound":
        extension = stack.sim.pbx.extension(command["ring"])
        extension.answer_after = command.get("answer_after", extension.answer_after)
        extension.talk_time = command.get("talk_time", extension.talk_time)
        stack.sim.pbx.inbound_call(ring=[command["ring"]], call_timeout=command.get("call_timeout", 120))
    elif command["do"] == "flaky":
        crm.switch(command["status"], command.get("hold_after"))
    elif command["do"] == "flaky_logs":
        logs.status = command["status"]


def read_commands(stack, crm: SwitchableCrm, logs: SwitchableCrm, stop: Event) -> None:
    stdin = FileObjectPosix(sys.stdin.fileno(), "rb", close=False)
    for line in stdin:
        if line.strip():
            run_command(stack, crm, logs, json.loads(line))
    stop.set()  # EOF: the test process is gone


def main(db_path: str) -> None:
    for stale in (Path(db_path), Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)
    crm = SwitchableCrm(FlakyCrm(retry_every=0, dead_every=1))
    logs = SwitchableCrm(crm)
    stack = start_stack(crm, logs, Path(db_path))
    deadline = time.monotonic() + 60  # the delivery process delivering before the first call:
    while not stack.connector.deliverer.running and time.monotonic() < deadline:  # MAX_AGE is short
        gevent.sleep(0.05)
    stop = Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.spawn(read_commands, stack, crm, logs, stop)
    print(json.dumps({"api": stack.api_url, "token": TOKEN, "extensions": EXTENSIONS,
                      "flaky_endpoints": [r.url for r in stack.receivers[1:]]}), flush=True)
    try:
        stop.wait()
    finally:
        stack.stop()


if __name__ == "__main__":
    main(sys.argv[1])
