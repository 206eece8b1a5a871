"""The delivery process: the delivery engine in a process of its own.

Started by the connector (``supervisor.DeliveryProcess``) as
``python -m esl_connector.delivery.process <fd>``, ``fd`` being its end of
the link (``link``). It reads the settings from the link, opens the same
database (already migrated by the parent), runs a ``DeliveryEngine`` with the
planner of ``[[customers]]``, and then only does what the parent says: wake,
stop picking, stop. It reports its status and its outcomes (for the metrics)
back over the link.

It exits on its own when the parent goes away (end of file on the link):
deliveries in flight get ``delivery.stop_timeout`` to finish. SIGTERM and
SIGINT are ignored: a service manager sends them to the whole process group,
and the parent decides the order of a stop (commit first, then deliveries).
Exit status: 0 after a stop, 3 if it cannot start (the database, the
recordings key), 4 when the engine died on a bug.
"""

from __future__ import annotations

from gevent import monkey

if __name__ == "__main__":
    monkey.patch_all()

import logging  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402

from storage import open_database  # noqa: E402

from .. import logs  # noqa: E402
from ..api.recordings import Recordings  # noqa: E402
from ..settings.customer_config import parse_customers  # noqa: E402
from ..settings.customers import CustomerDirectory  # noqa: E402
from . import webhooks  # noqa: E402
from .engine import DeliveryEngine  # noqa: E402
from .link import STATUS_EVERY, Link, decode_settings, result_row  # noqa: E402
from .live_settings import apply_customers, apply_delivery_settings  # noqa: E402
from .types import EngineStatus  # noqa: E402

log = logging.getLogger("esl_connector.delivery.process")
EXIT_STOPPED, EXIT_CANNOT_START, EXIT_DIED = 0, 3, 4
SETTINGS_TIMEOUT = 30.0  # the parent sends them at once; without them nothing can start


def build_engine(settings) -> DeliveryEngine:
    """The engine the connector would run inline, from the same settings."""
    directory = CustomerDirectory(parse_customers(settings.customers))
    db = open_database(settings.storage.url)
    return DeliveryEngine.from_settings(db, planner_for(settings, directory), settings.delivery)


def planner_for(settings, directory: CustomerDirectory):
    recordings = Recordings.from_settings(settings.recordings, settings.http.public_url)
    return webhooks.planner(directory, user_agent=settings.delivery.user_agent,
                            recording_url=recordings.url_for)


def status_dict(status: EngineStatus) -> dict:
    return {name: getattr(status, name) for name in EngineStatus.__slots__}


class DeliveryChild:
    """The child's side: the engine, driven by the parent's messages."""

    def __init__(self, sock):
        self.link = Link(sock, self._message, self._parent_gone, name="delivery process link")
        self.settings = None
        self.engine: DeliveryEngine | None = None
        self.have_settings = Event()
        self.done = Event()
        self.exit_code = EXIT_STOPPED
        self._results: list = []
        self._stop_timeout: float | None = None
        self._picking = True
        self._may_hand_on = True  # one "left_over" per commit's wake (or status report) at most
        self.logs = None

    def run(self) -> int:
        self.link.start()
        if not self.have_settings.wait(SETTINGS_TIMEOUT):
            log.critical("the connector sent no settings within %.0f s; exiting", SETTINGS_TIMEOUT)
            return EXIT_CANNOT_START
        if self.done.is_set():  # the parent went away before we started
            return EXIT_STOPPED
        self.logs = configure_logging(self.settings)
        try:
            self.engine = build_engine(self.settings)
        except Exception as exc:  # noqa: BLE001 - any reason: said once, exit non-zero
            log.critical("the delivery process cannot start: %s", exc)
            return EXIT_CANNOT_START
        self.engine.on_result = self._result
        self.engine.on_died = self._engine_died
        hub = gevent.get_hub()  # the claims call from the engine's database thread
        self.engine.claims.on_left_over = lambda: hub.loop.run_callback_threadsafe(self._left_over)
        self.engine.start()
        if not self._picking:  # the connector began stopping while this process started
            self.engine.stop_picking()
        self._report()  # the parent serves a status from now on
        self.link.send("ready", pid=os.getpid())
        log.info("delivering as %s (pid %d)", self.settings.delivery.instance, os.getpid())
        reporter = gevent.spawn(self._report_loop)
        self.done.wait()
        self._stop_engine()
        reporter.kill()
        self._report()
        self.link.flush()
        self.link.close()
        return self.exit_code

    # -- the parent's messages -------------------------------------------------------

    def _message(self, message: dict) -> None:
        op = message.get("op")
        if op == "settings":
            self.settings = decode_settings(message["settings"])
            self.have_settings.set()
        elif op == "wake":
            if not message.get("handed"):  # a wake handed on from another child hands on no further
                self._may_hand_on = True
            if self.engine is not None:
                self.engine.wake(True if message.get("rows") else None)
        elif op == "stop_picking":
            self._picking = False
            if self.engine is not None:
                self.engine.stop_picking()
        elif op == "stop":
            self._stop_timeout = float(message.get("timeout", self._default_timeout()))
            self.done.set()
        elif op == "reload":
            self.reload(decode_settings(message["settings"]), message.get("renewed", []))
        else:
            log.warning("unknown message from the connector: %r", op)

    def reload(self, settings, renewed: list[str] = ()) -> None:
        """The connector read its configuration again: the new customers and
        [delivery] settings apply to the running engine (as inline: see
        ``live_settings``), and to the next start of this process."""
        before, self.settings = self.settings, settings
        if self.engine is None:
            return
        old = CustomerDirectory(parse_customers(before.customers))
        new = CustomerDirectory(parse_customers(settings.customers))
        if self.logs is not None:
            self.logs.apply(settings.logging.level, settings.logging.format,
                            logs.secret_values(settings, parse_customers(settings.customers)))
        apply_delivery_settings(self.engine, settings.delivery)
        self.engine.plan_for = planner_for(settings, new)
        kept = apply_customers(self.engine, old, new, list(renewed))
        self._report()  # the connector's status shows the new settings at once
        log.info("new settings applied to the running delivery engine (%d rows kept for removed "
                 "customers)", kept)

    def _parent_gone(self) -> None:
        if not self.done.is_set():
            log.warning("the connector is gone (its link closed): finishing the deliveries "
                        "in flight and exiting")
        self.have_settings.set()
        self.done.set()

    # -- the engine's reports ----------------------------------------------------------

    def _result(self, event, customer: str, status: str, attempts: list) -> None:
        """After each outcome's commit: sent once the recorder's whole batch is
        reported (the next turn of the loop), in one line."""
        if not self._results:
            gevent.spawn(self._send_results)
        self._results.append(result_row(event, customer, status, attempts))

    def _send_results(self) -> None:
        if self._results:
            results, self._results = self._results, []
            self.link.send("results", results=results)

    def _left_over(self) -> None:
        """Due rows were left unread by this process (a full page, or it holds
        all it may): the connector wakes another delivery process."""
        if self._may_hand_on:
            self._may_hand_on = False
            self.link.send("left_over")

    def _engine_died(self, exc) -> None:
        self.link.send("died", reason=f"the delivery dispatcher stopped: {exc!r}")
        self.exit_code = EXIT_DIED
        self.done.set()

    def _report_loop(self) -> None:
        while True:
            gevent.sleep(STATUS_EVERY)
            self._report()

    def _report(self) -> None:
        self._send_results()
        self._may_hand_on = True
        if self.engine is not None:
            self.link.send("status", status=status_dict(self.engine.status()), usage=own_usage())

    def _default_timeout(self) -> float:
        return self.settings.delivery.stop_timeout if self.settings is not None else 10.0

    def _stop_engine(self) -> None:
        if self.engine is None:
            return
        timeout = self._stop_timeout if self._stop_timeout is not None else self._default_timeout()
        try:
            self.engine.stop(timeout=max(0.5, timeout))
        finally:
            self.engine.db.close()


def own_usage() -> dict:
    """This process's CPU seconds (user + system) and resident memory, for the
    connector's status and metrics."""
    times = os.times()
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: the peak instead
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"cpu_seconds": round(times.user + times.system, 3), "rss_bytes": rss}


def configure_logging(settings):
    """As the connector logs (``[logging]``: level, plain or JSON lines, every
    configured secret masked), to stderr: the connector's log file when it
    logs to one (the parent opens it as this process's stderr), else its stderr."""
    return logs.configure(settings.logging.level, settings.logging.format,
                          logs.secret_values(settings, parse_customers(settings.customers)))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: python -m esl_connector.delivery.process <link fd> (started by "
              "`esl-connector run`, not by hand)", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    sock = socket.socket(fileno=int(argv[0]))
    child = DeliveryChild(sock)
    logs.configure("INFO")  # until the settings arrive
    return child.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
