"""Reload: the configuration file read again while the connector runs
(SIGHUP, ``POST /api/v1/admin/reload`` or ``esl-connector reload``).

Taken live, without dropping the Event Socket connection or any delivery:

* ``[[customers]]``: who owns which extensions and domains, events, URLs,
  authentication, backups, phone rules, webphones, click-to-call secrets. The
  directory every part reads is swapped in one step of the gevent hub; a row is
  planned when it is picked, so it goes to its customer's new URL at its next
  attempt (requests in flight finish as they were sent). Rows of a removed
  customer are kept (``delivery.live_settings``).
* ``[delivery]``: every key (``delivery.live_settings``).
* ``[logging]``: level, format, and the secrets redacted from the log.

Anything else that differs (``[freeswitch]``, ``[storage]``, ``[http]``...)
is reported as needing a restart and left as it is. A file that does not load
(TOML syntax, unknown keys, invalid values) is refused with every problem, and
the settings in force stay as they were.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent.lock

from .delivery import webhooks
from .delivery.live_settings import apply_customers, apply_delivery_settings
from .logs import LogOutput, Redactor, secret_values
from .settings.click2call_config import userfield_header
from .settings.config import ConfigError, Settings, load_settings
from .settings.customer_config import parse_customers
from .settings.customers import CustomerDirectory

log = logging.getLogger(__name__)

LIVE_SECTIONS = ("customers", "delivery", "logging")
NOT_USED_BY_RUN = ("simulator",)  # read by `esl-connector simulate` only


@dataclass(slots=True)
class ReloadResult:
    applied: bool
    problems: list[str] = field(default_factory=list)        # why the file was refused
    changed: list[str] = field(default_factory=list)         # keys now in force
    needs_restart: list[str] = field(default_factory=list)   # keys that differ, not applied
    customers_added: list[str] = field(default_factory=list)
    customers_removed: list[str] = field(default_factory=list)
    customers_changed: list[str] = field(default_factory=list)
    rows_kept_for_removed: int = 0  # untried rows stamped with a removed customer
    at: float = field(default_factory=time.time)

    def as_dict(self) -> dict:
        return {"status": "ok" if self.applied else "error", **dataclasses.asdict(self)}


def changed_keys(old: Any, new: Any, path: str) -> list[str]:
    """``section.key`` of every field that differs between two settings dataclasses."""
    found = []
    for f in dataclasses.fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        if dataclasses.is_dataclass(a):
            found += changed_keys(a, b, f"{path}{f.name}.")
        elif a != b:
            found.append(f"{path}{f.name}")
    return found


def restart_keys(old: Settings, new: Settings) -> list[str]:
    """Keys outside the live sections whose new value differs."""
    skipped = LIVE_SECTIONS + NOT_USED_BY_RUN + ("freeswitch", "nodes")
    # [delivery] is live but for where and as whom it runs (processes are started at start)
    fixed = [f"delivery.{key}" for key in ("process", "processes", "instance")
             if getattr(old.delivery, key) != getattr(new.delivery, key)]
    return node_changes(old, new) + fixed + [
        key for f in dataclasses.fields(Settings) if f.name not in skipped
        for key in changed_keys(getattr(old, f.name), getattr(new, f.name), f"{f.name}.")]


def node_changes(old: Settings, new: Settings) -> list[str]:
    """``freeswitch[NODE].key`` of every changed key of a node kept, and
    ``freeswitch[NODE]`` of a node added or removed (connections are opened
    at start only)."""
    before = {fs.node: fs for fs in old.node_settings()}
    after = {fs.node: fs for fs in new.node_settings()}
    found = [f"freeswitch[{name}]" for name in sorted(before.keys() ^ after.keys())]
    single = len(before) == len(after) == 1 and not found
    for name in [n for n in before if n in after]:
        found += changed_keys(before[name], after[name], "freeswitch." if single else f"freeswitch[{name}].")
    return found


def customer_changes(old: list[dict], new: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """(added, removed, changed) customer codes, from the raw ``[[customers]]`` tables."""
    before = {str(c.get("code")): c for c in old}
    after = {str(c.get("code")): c for c in new}
    return (sorted(after.keys() - before.keys()), sorted(before.keys() - after.keys()),
            sorted(code for code in before.keys() & after.keys() if before[code] != after[code]))


class Reloader:
    """Reloads ``path`` into a running ``app.Connector`` (one reload at a time)."""

    def __init__(self, connector: Any, path: str, logs: LogOutput | None = None, env: dict | None = None):
        self.connector, self.path, self.logs, self.env = connector, path, logs, env
        self._lock = gevent.lock.Semaphore()
        self.last: ReloadResult | None = None
        self.on_result: Callable[[ReloadResult], None] | None = None  # after each reload (metrics)

    def status(self) -> dict:
        """For the health endpoint: the file, and what the last reload did."""
        last = self.last
        return {"file": self.path, "last_reload": None if last is None else {
            "at": round(last.at, 3), "applied": last.applied, "problems": last.problems,
            "needs_restart": last.needs_restart}}

    def reload(self) -> ReloadResult:
        with self._lock:
            try:
                self.last = result = self._reload()
                if self.on_result is not None:
                    self.on_result(result)
            except Exception:
                log.exception("the reload of %s failed halfway; restart the connector to be sure "
                              "of the settings in force", self.path)
                raise
        return result

    def _reload(self) -> ReloadResult:
        log.info("reloading the configuration from %s", self.path)
        try:
            new = load_settings(self.path, self.env)
            customers = parse_customers(new.customers, self.env)
        except ConfigError as exc:
            problems = [self._redact(p) for p in exc.problems]  # a refused URL may carry a password
            log.error("configuration %s refused (%d problems); the settings in force stay: %s",
                      self.path, len(problems), "; ".join(problems))
            return ReloadResult(False, problems=problems)
        old: Settings = self.connector.settings
        added, removed, changed = customer_changes(old.customers, new.customers)
        result = ReloadResult(True, needs_restart=restart_keys(old, new), customers_added=added,
                              customers_removed=removed, customers_changed=changed,
                              changed=changed_keys(old.delivery, new.delivery, "delivery.")
                              + changed_keys(old.logging, new.logging, "logging."))
        before = self._swap(new, customers, added + changed)
        self._report(result)
        try:
            if not self._in_child():  # the child applies them itself (``delivery/process.py``)
                result.rows_kept_for_removed = apply_customers(self.connector.deliverer, before,
                                                               self.connector.directory, added + changed)
        except Exception as exc:  # noqa: BLE001 - the new settings are in force: say what is left
            log.error("the new settings are in force, but the outbox could not be updated (%s): retrying "
                      "rows of changed customers wait for their next attempt, and rows of removed ones "
                      "not tried yet may be skipped", exc)
        if result.rows_kept_for_removed:
            log.warning("%d deliveries of removed customers %s are kept retrying until they are "
                        "configured again or reach delivery.max_age", result.rows_kept_for_removed,
                        ", ".join(result.customers_removed))
        return result

    def _redact(self, text: str) -> str:
        redact = self.logs.redact if self.logs is not None else Redactor(
            secret_values(self.connector.settings, self.connector.directory.customers))
        return redact(text)

    def _in_child(self) -> bool:
        """The delivery engine runs in a child process ([delivery] process = "separate")."""
        return hasattr(self.connector.deliverer, "reload")

    def _swap(self, new: Settings, customers: list, renewed: list[str]) -> CustomerDirectory:
        """Everything the live sections feed, in one go (nothing here yields).
        Returns the directory as it was."""
        c = self.connector
        before = CustomerDirectory(c.directory.customers)
        secrets = secret_values(c.settings, before.customers) + secret_values(new, customers)
        c.directory.replace(customers)
        for link in c.links:  # every node's tracker
            link.tracker.calls.use_userfield_header(userfield_header(c.directory))
            link.select_headers()
        c.settings.customers, c.settings.delivery, c.settings.logging = new.customers, new.delivery, new.logging
        if self._in_child():
            c.deliverer.reload(c.settings, renewed)
        else:
            apply_delivery_settings(c.deliverer, new.delivery)
        if c.own_planner and not self._in_child():
            c.deliverer.plan_for = webhooks.planner(c.directory, user_agent=new.delivery.user_agent,
                                                    recording_url=c.recordings.url_for)
        if self.logs is not None:
            self.logs.apply(new.logging.level, new.logging.format, secrets)
        return before

    def _report(self, result: ReloadResult) -> None:
        log.info("configuration reloaded: customers added %s, removed %s, changed %s; settings changed: %s",
                 ", ".join(result.customers_added) or "none", ", ".join(result.customers_removed) or "none",
                 ", ".join(result.customers_changed) or "none", ", ".join(result.changed) or "none")
        if result.needs_restart:
            log.warning("these settings changed but take effect only after a restart: %s",
                        ", ".join(result.needs_restart))
