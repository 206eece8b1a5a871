"""Wiring: the one place that builds the connector's parts and joins them.

ESL client -> Tracker -> StorageWriter (calls, extensions, outbox) ->
DeliveryEngine -> the CRMs; beside them the HTTP server (click-to-call,
recordings, status API) reads the database and talks to FreeSWITCH through
the same client, and FreeSWITCH's CDRs (POSTed to it, or read from disk by
the scanner) reach the Tracker through the CDR service. Nothing else reads
the configuration; every part gets what it needs from here.
"""

from __future__ import annotations

import logging
import time

import gevent
import gevent.event

from storage import migrate, open_database
from storage.recovery import load_tracker_snapshot
from storage.writer import StorageWriter

from .api import cdr as cdr_api
from .api import click2call, metrics, recordings, status_views
from .api import status as status_api
from .api.context import ApiContext
from .api.metrics_state import StateCollector, StateSources
from .api.server import HttpApi, HttpServer
from .calls.call_tracker import TrackerSettings
from .calls.tracker import Tracker, parse_rows
from .cdrs.scanner import CdrScanner
from .cdrs.service import CdrService
from .delivery import webhooks
from .delivery.engine import DeliveryEngine, Planner
from .delivery.supervisor import DeliveryProcess
from .esl.client import ESLError, EventSocketClient
from .esl.protocol import Event
from .settings.click2call_config import phone_rules, userfield_header, webphone_policy
from .settings.config import Settings
from .settings.customer_config import parse_customers
from .settings.customers import CustomerDirectory

log = logging.getLogger(__name__)

# An audit never declares lost a leg with events this recent (FreeSWITCH's
# channel table lags new channels).
AUDIT_GRACE_SECONDS = 10.0
# Calls ended this recently are remembered across a restart: a late event or a
# channel FreeSWITCH still lists never starts them again.
FINISHED_REMEMBERED_SECONDS = 3600.0
RESYNC_RETRY_SECONDS = 1.0  # first wait before asking FreeSWITCH's state again after a failure


def tracker_settings(settings: Settings, directory: CustomerDirectory) -> TrackerSettings:
    return TrackerSettings(
        extension_pattern=settings.tracker.extension_pattern,
        userfield_variables=tuple(settings.tracker.userfield_variables),
        webphone=webphone_policy(directory),
        userfield_header=userfield_header(directory),
        phone_rules=phone_rules(directory),
        cdr_complete_after=settings.cdr.complete_after,
        cdr_recording_variables=tuple(settings.cdr.recording_variables),
    )


def http_routes() -> list:
    return [*metrics.counting_click2call(click2call.routes()), *recordings.routes(), *status_api.routes(),
            *cdr_api.routes(), *metrics.routes()]


class Connector:
    """The running service. ``start()`` returns at once; ``stop()`` flushes."""

    def __init__(self, settings: Settings, planner: Planner | None = None):
        """Raises StorageError, RecordingError or ConfigError with a message an
        admin can act on."""
        self.settings = settings
        self.directory = CustomerDirectory(parse_customers(settings.customers))
        self.recordings = recordings.Recordings.from_settings(settings.recordings, settings.http.public_url)
        self.db = open_database(settings.storage.url)
        migrate(self.db)
        self.writer = StorageWriter(self.db, commit_window=settings.storage.commit_window)
        # Delivery: ``planner`` (plan_for(event, call_params) -> DeliveryPlan | None)
        # replaces the [[customers]] one, for tests and embedding.
        self.deliverer = self._deliverer(settings, planner)
        self.writer.on_commit = self._committed
        self.writer.on_died = lambda exc: self._fail(f"the storage writer stopped: {exc!r}")
        self.deliverer.on_died = lambda exc: self._fail(f"the delivery dispatcher stopped: {exc!r}")
        # Set when the process must stop and exit non-zero (the supervisor
        # restarts it; the next start takes up the last commit).
        self.failed = gevent.event.Event()
        self.failure = ""
        self.tracker = Tracker(tracker_settings(settings, self.directory))
        # Take up the calls in progress and presence as last committed; the
        # resync after connecting sorts the calls into live, ended while we
        # were away, and new.
        self.tracker.restore(load_tracker_snapshot(
            self.db, self.tracker.calls.settings.max_finished_remembered,
            time.time() - FINISHED_REMEMBERED_SECONDS))
        fs = settings.freeswitch
        self.client = EventSocketClient(
            fs.host, fs.port, fs.password, event_format=fs.event_format,
            on_event=self.on_event, on_connect=self._on_connect, on_disconnect=self._on_disconnect,
            command_timeout=fs.command_timeout, connect_timeout=fs.connect_timeout,
            heartbeat_timeout=fs.heartbeat_timeout, backoff_max=fs.reconnect_max_delay,
        )
        self.cdrs = CdrService(self.db, self.tracker, self.writer)
        c = settings.cdr
        self.cdr_scanner = CdrScanner(self.cdrs, c.directories, c.scan_interval, c.delete_processed,
                                      c.max_body) if c.directories else None
        self.metrics = self._metrics(f"{fs.host}:{fs.port}")
        extras = {"recordings": self.recordings, cdr_api.SERVICE_KEY: self.cdrs, metrics.CONTEXT_KEY: self.metrics}
        self.api_context = ApiContext(self.db, self.client, self.directory, self.writer, self.deliverer,
                                      settings, extras=extras)
        h = settings.http
        self.http = HttpServer(HttpApi(self.api_context, http_routes()), h.host, h.port,
                               certfile=h.tls_cert or None, keyfile=h.tls_key or None)
        self._resync: gevent.Greenlet | None = None
        self._stopping = False
        self.resyncs = 0

    def _deliverer(self, settings: Settings, planner: Planner | None) -> DeliveryEngine | DeliveryProcess:
        """The engine here, or a child process running it ([delivery] process =
        "separate"; a ``planner`` given by a test or an embedder keeps it here)."""
        if settings.delivery.process == "separate" and planner is None:
            return DeliveryProcess(settings, settings.delivery.workers)
        return DeliveryEngine.from_settings(self.db, planner or webhooks.planner(
            self.directory, user_agent=settings.delivery.user_agent,
            recording_url=self.recordings.url_for), settings.delivery)

    def _metrics(self, node: str) -> metrics.ConnectorMetrics:
        """This connector's own registry, fed by the parts and read at scrape time."""
        made = metrics.ConnectorMetrics(node)
        made.watch(StateCollector(StateSources(
            node, self.client, lambda: self.tracker.calls.active_calls(), self.writer, self.db, self.directory)))
        self.deliverer.on_result = made.delivery_result
        return made

    def _committed(self, info) -> None:
        """After each of the writer's transactions (on its greenlet)."""
        self.metrics.committed(self.writer.status().last_commit_ms / 1000.0)
        self.deliverer.wake(info)

    def start(self) -> Connector:
        self.writer.start()
        self.deliverer.start()
        if self.settings.cdr.enabled:
            self.cdrs.start()  # CDR legs left pending by the last run
        if self.cdr_scanner is not None:
            self.cdr_scanner.scan()  # CDRs written while we were away, before any resync guesses
            self.cdr_scanner.start()
        self.client.start()
        self.http.start()
        log.info("connector started: FreeSWITCH %s:%s, storage %s", self.settings.freeswitch.host,
                 self.settings.freeswitch.port, self.settings.storage.url.split("@")[-1])
        if not self.settings.customers:
            log.warning("no [[customers]] configured: calls are tracked and stored, but no CRM "
                        "receives webhooks (their outbox rows are marked skipped)")
        return self

    def stop(self) -> bool:
        """The graceful stop (SIGTERM), within ``delivery.stop_timeout``: take
        no new requests, events or deliveries; handle the events already
        received and commit everything; let deliveries in flight finish until
        the deadline (those cut short stay due and are sent again, with the
        same event id, after the restart). True when everything was committed:
        the next start then takes up exactly where this one stopped."""
        deadline = time.monotonic() + self.settings.delivery.stop_timeout
        self._stopping = True
        self.deliverer.stop_picking()
        self.http.stop(timeout=min(2.0, self.settings.delivery.stop_timeout / 4))
        if self.api_context.extras.get(click2call.SERVICE_KEY) is not None:
            click2call.service(self.api_context).stop()
        if self._resync is not None:
            self._resync.kill()
        if self.cdr_scanner is not None:
            self.cdr_scanner.stop()
        self.cdrs.stop()
        self.client.stop(timeout=min(5.0, self.settings.delivery.stop_timeout / 3))
        committed = self.writer.stop(timeout=max(1.0, deadline - time.monotonic()))
        self.deliverer.stop(timeout=max(0.5, deadline - time.monotonic()))
        self.db.close()
        if committed:
            log.info("connector stopped; everything received was committed")
        return committed

    def _fail(self, reason: str) -> None:
        log.critical("%s: stopping so that the supervisor restarts the connector", reason)
        self.failure = reason
        self.failed.set()

    # -- event path: runs on the ESL client's dispatcher greenlet, no I/O ---
    def on_event(self, event: Event) -> None:
        self.metrics.event_received(event)
        changes = self.tracker.handle(event)
        if changes:
            self.metrics.changes_made(changes)
            self.writer.submit(changes)

    def _on_connect(self, client: EventSocketClient) -> None:
        self.tracker.begin_snapshot()  # before the subscription's events start to flow
        if self._resync is not None:
            self._resync.kill(block=False)
        self._resync = gevent.spawn(self._resync_state)
        self._resync.link_exception(lambda g: log.error("resync failed: %s", g.exception))

    def _on_disconnect(self, reason: str) -> None:
        if self._stopping:
            return
        log.warning("FreeSWITCH connection lost (%s); calls in progress are kept and "
                    "reconciled when it returns", reason)

    def _freeswitch_now(self) -> float:
        """FreeSWITCH's clock (``strepoch``): calls that ended while we were
        away are closed at this time, on the same clock as their other times."""
        reply = self.client.api("strepoch").strip()
        if reply.isdigit():
            return float(reply)
        log.warning("FreeSWITCH answered %r to strepoch; using the connector's clock", reply[:60])
        return time.time()

    def _resync_state(self) -> None:
        """Rebuild extensions and calls from FreeSWITCH after a (re)connect,
        then audit them every ``audit_interval`` while connected. Waits
        ``resync_delay`` first: ``show channels`` reads a table that
        FreeSWITCH updates asynchronously."""
        gevent.sleep(self.settings.freeswitch.resync_delay)
        retry = RESYNC_RETRY_SECONDS
        while not self._reconcile(grace=0.0):
            # Until it works, calls taken up or kept across the gap cannot be
            # told live from ended: try again (legs with events since the
            # connect still count as live).
            gevent.sleep(retry)
            retry = min(retry * 2, self.settings.freeswitch.reconnect_max_delay)
        status_views.freeswitch_version(self.client, self.api_context.extras)
        interval = self.settings.freeswitch.audit_interval
        while interval > 0:
            gevent.sleep(interval)
            self.tracker.begin_snapshot()
            self._reconcile(grace=AUDIT_GRACE_SECONDS)

    def _reconcile(self, grace: float) -> bool:
        """One comparison of the tracker with FreeSWITCH's live state. An
        audit catches what a lost event left behind (FreeSWITCH drops events
        for a listener that falls behind: "Lost N events")."""
        try:
            registrations = parse_rows(self.client.api("show registrations as json"))
            channels = parse_rows(self.client.api("show channels as json"))
            now = self._freeswitch_now()
        except (ESLError, ValueError) as exc:
            log.warning("could not read FreeSWITCH's channels and registrations (%s); trying again", exc)
            return False
        if self.cdr_scanner is not None:
            # CDRs first: mod_json_cdr writes a leg's CDR before FreeSWITCH drops the
            # channel, so a leg now gone has its exact end on disk, not a guess.
            self.cdr_scanner.scan()
        result = self.tracker.resync(registrations, channels, now, grace=grace)
        self.resyncs += 1
        if result.changes:
            self.metrics.changes_made(result.changes)
            self.writer.submit(result.changes)
        return True
