"""The connector's side of a separate delivery process (``[delivery] process =
"separate"``): it starts the child (``process``), keeps it running, and stands
in for the engine towards the rest of the connector.

* Same face as ``DeliveryEngine``: ``start``, ``wake``, ``stop_picking``,
  ``stop``, ``status``, ``running``, ``on_result``: the app, the status API,
  health and metrics use either without knowing which.
* Wakes: after each commit that added outbox rows the writer's ``on_commit``
  becomes one line on the link, so the child looks at once (no polling on the
  main path; the child keeps its ``poll_interval`` for retries).
* Supervision: a child that exits (a crash, SIGKILL, the OOM killer, a bug
  that stopped its engine) is logged with its exit status and started again
  after a backoff (``RESTART_FIRST`` doubling up to ``RESTART_MAX``; back to
  the first after ``STABLE_AFTER`` s of running). Nothing is lost meanwhile:
  the outbox rows stay due in the database and the new child sends them.
* Status: the child reports its EngineStatus every few hundred milliseconds;
  ``status()`` returns the last one (counters summed over the children so far)
  with ``process`` saying whether the child is up, its pid, its restarts and
  its own CPU time and memory.

With ``[delivery] processes`` > 1 there is one ``DeliveryProcess`` per child,
each with its own claims instance (``child_instance``), behind
``children.DeliveryProcesses``.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import replace

import gevent
from gevent import subprocess

from .claims import default_instance
from .link import Link, encode_settings, result_args
from .types import EngineStatus

log = logging.getLogger(__name__)

RESTART_FIRST, RESTART_MAX = 0.5, 30.0
STABLE_AFTER = 60.0  # a child that ran this long restarts without backoff after a crash
STOP_GRACE = 5.0     # beyond delivery.stop_timeout, for the child to write its outcomes and exit
COUNTERS = ("delivered", "retried", "dead", "skipped", "requests")


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    meaning = {0: "stopped", 3: "could not start", 4: "its engine stopped on an internal error"}
    return f"exit status {code}" + (f" ({meaning[code]})" if code in meaning else "")


def with_instance(settings, index: int = 1, count: int = 1):
    """The settings the child gets: its claims' instance name is this
    connector's (``delivery.instance``, or host:pid of the connector, not of
    the child), so a child started again takes up at once the rows the one
    before it held, instead of waiting for their leases to run out. With
    several children (``count``), child ``index`` is ``<instance>/d<index>``."""
    instance = child_instance(settings.delivery.instance or default_instance(), index, count)
    if instance == settings.delivery.instance:
        return settings
    return replace(settings, delivery=replace(settings.delivery, instance=instance))


def child_instance(connector_instance: str, index: int, count: int) -> str:
    return connector_instance if count == 1 else f"{connector_instance}/d{index}"


class DeliveryProcess:
    def __init__(self, settings, workers: int, index: int = 1, count: int = 1, log_file: str | None = None):
        """``index`` of ``count`` children; ``log_file``: where the connector
        logs (None: its stderr), the child's stderr (so its log lines) too."""
        self.index, self.count, self.log_file = index, count, log_file
        self.settings = with_instance(settings, index, count)
        self.workers = workers
        self.on_result: Callable | None = None
        self.on_died: Callable | None = None  # unused: a dead child is restarted, not fatal
        self.on_left_over: Callable[[DeliveryProcess], None] | None = None  # see children.py
        self.usage: dict = {}  # the child's last report of its CPU seconds and RSS
        self.restarts = 0
        self.last_exit = ""
        self._proc: subprocess.Popen | None = None
        self._link: Link | None = None
        self._status: dict | None = None
        self._base = dict.fromkeys(COUNTERS, 0)  # counters of the children before this one
        self._ready = False
        self._stopping = False
        self._picking = True
        self._supervisor: gevent.Greenlet | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> DeliveryProcess:
        if self._supervisor is None:
            self._supervisor = gevent.spawn(self._supervise)
        return self

    def stop_picking(self) -> None:
        self._picking = False
        self._send("stop_picking")

    def stop(self, timeout: float | None = None) -> None:
        """Let the child finish its deliveries in flight within ``timeout``,
        write their outcomes and exit; killed if it has not after STOP_GRACE more."""
        timeout = self.settings.delivery.stop_timeout if timeout is None else timeout
        self._stopping = True
        proc = self._proc
        self._send("stop", timeout=timeout)
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(timeout=timeout + STOP_GRACE)
            except subprocess.TimeoutExpired:
                log.error("the delivery process did not stop within %.0f s; killing it "
                          "(its deliveries in flight are sent again after the restart)",
                          timeout + STOP_GRACE)
                proc.kill()
                proc.wait()
        if self._supervisor is not None:
            self._supervisor.join(timeout=2.0)
            self._supervisor.kill()
        if self._link is not None:
            self._link.close()

    def wake(self, info=None) -> None:
        """From the writer's on_commit (``info``: CommitInfo; only commits that
        added outbox rows wake the child) or with nothing: every due row."""
        if info is None:
            self._send("wake")
        elif getattr(info, "events", 1):
            self._send("wake", rows=info.events)

    def hand_on(self) -> None:
        """Another child left due rows unread: look at the new ones."""
        self._send("wake", rows=1, handed=True)

    def reload(self, settings, renewed: list[str] = ()) -> None:
        """Hand the child a configuration read again: it applies the new
        customers and [delivery] settings to its running engine as the
        connector does inline (``renewed``: customers added or changed, whose
        retrying rows fall due now). A child started later gets these settings."""
        settings = self.settings = with_instance(settings, self.index, self.count)
        self._send("reload", settings=encode_settings(settings), renewed=list(renewed))

    @property
    def running(self) -> bool:
        return self._ready and self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def status(self) -> EngineStatus:
        up = self.running
        reported = self._status or {}
        counters = {k: self._base[k] + reported.get(k, 0) for k in COUNTERS}
        process = {"mode": "separate", "up": up, "pid": self.pid if up else None,
                   "restarts": self.restarts, "last_exit": self.last_exit,
                   "cpu_seconds": self.usage.get("cpu_seconds", 0.0), "rss_bytes": self.usage.get("rss_bytes", 0)}
        if not up or not reported:
            error = ("the delivery process is not running" +
                     (f" ({self.last_exit})" if self.last_exit else "") + "; it is restarted")
            return EngineStatus(False, 0, 0, self.workers, {}, **counters, last_error=error,
                                endpoints=reported.get("endpoints", []), process=process)
        status = EngineStatus(**{**reported, **counters})
        return replace(status, process=process)

    # -- supervision ------------------------------------------------------------------------

    def _supervise(self) -> None:
        backoff = RESTART_FIRST
        while not self._stopping:
            started = time.monotonic()
            try:
                code = self._run_child()
                exited = describe_exit(code)
            except OSError as exc:  # no fork, no memory, the interpreter gone...
                exited = f"could not be started ({exc.strerror or exc})"
            if self._stopping:
                return
            self.restarts += 1
            self.last_exit = exited
            backoff = RESTART_FIRST if time.monotonic() - started >= STABLE_AFTER else backoff
            log.error("the delivery process (pid %s%s) %s; webhooks wait in the outbox, nothing is "
                      "lost; starting it again in %.1f s (restart %d)", self.pid, self._of(), self.last_exit,
                      backoff, self.restarts)
            gevent.sleep(backoff)
            backoff = min(RESTART_MAX, backoff * 2)

    def _run_child(self) -> int:
        ours, theirs = socket.socketpair()
        stderr = None
        try:
            # appended to by both processes: each log line is one write
            stderr = open(self.log_file, "ab", buffering=0) if self.log_file else None  # noqa: SIM115
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "esl_connector.delivery.process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stderr=stderr)
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
            if stderr is not None:
                stderr.close()
        self.usage = {}
        self._ready, self._status = False, None
        self._link = Link(ours, self._message, lambda: None, name="link to the delivery process").start()
        self._link.send("settings", settings=encode_settings(self.settings))
        if not self._picking:
            self._link.send("stop_picking")
        log.info("delivery process started (pid %d%s)", self._proc.pid, self._of())
        code = self._proc.wait()
        self._link.close()
        self._ready = False
        if self._status:
            for k in COUNTERS:
                self._base[k] += self._status.get(k, 0)
        self._status = None
        return code

    def _message(self, message: dict) -> None:
        op = message.get("op")
        if op == "status":
            self._status = message["status"]
            self.usage = message.get("usage", self.usage)
        elif op == "results":
            if self.on_result is not None:
                for row in message["results"]:
                    self.on_result(*result_args(row))
        elif op == "left_over":
            if self.on_left_over is not None:
                self.on_left_over(self)
        elif op == "ready":
            self._ready = True
            log.info("delivery process (pid %s%s) is delivering", message.get("pid"), self._of())
        elif op == "died":
            log.critical("%s; the delivery process exits and is started again", message.get("reason"))
        else:
            log.warning("unknown message from the delivery process: %r", op)

    def _of(self) -> str:
        """", 2 of 3" naming one of several children in the log ("" if the only one)."""
        return f", {self.index} of {self.count}" if self.count > 1 else ""

    def _send(self, op: str, **fields) -> None:
        if self._link is not None:
            self._link.send(op, **fields)
