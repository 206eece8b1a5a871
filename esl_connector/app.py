"""Wiring: the one place that builds the connector's parts and joins them.

ESL client -> Tracker (one of each per FreeSWITCH node, ``node_link``) -> StorageWriter (calls, extensions, outbox) ->
DeliveryEngine -> the CRMs; beside them the HTTP server (click-to-call,
recordings, status API) reads the database and talks to FreeSWITCH through
the same clients (click-to-call through the extension's node), and FreeSWITCH's CDRs (POSTed to it, or read from disk by
the scanner) reach the Tracker through the CDR service. Nothing else reads
the configuration; every part gets what it needs from here.
"""

from __future__ import annotations

import logging
import time

import gevent.event

from storage import migrate, open_database
from storage.recovery import load_tracker_snapshot
from storage.writer import StorageWriter

from .api import admin_reload, click2call, metrics, recordings
from .api import cdr as cdr_api
from .api import status as status_api
from .api.context import ApiContext
from .api.metrics_state import StateCollector, StateSources
from .api.server import HttpApi, HttpServer
from .calls.call_tracker import TrackerSettings
from .calls.node_trackers import NodeTrackers, split_snapshot
from .calls.tracker import Tracker
from .cdrs.retention import CdrRetention
from .cdrs.scanner import CdrScanner
from .cdrs.service import CdrService
from .delivery import webhooks
from .delivery.children import DeliveryProcesses
from .delivery.engine import DeliveryEngine, Planner
from .esl.protocol import Event
from .node_link import NodeLink
from .reload import Reloader
from .retention import CallRetention
from .settings.click2call_config import phone_rules, userfield_header, webphone_policy
from .settings.config import Settings
from .settings.customer_config import parse_customers
from .settings.customers import CustomerDirectory

log = logging.getLogger(__name__)

# Calls ended this recently are remembered across a restart: a late event or a
# channel FreeSWITCH still lists never starts them again.
FINISHED_REMEMBERED_SECONDS = 3600.0


def tracker_settings(settings: Settings, directory: CustomerDirectory, node: str = "") -> TrackerSettings:
    return TrackerSettings(
        node=node or settings.freeswitch.node,
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
            *cdr_api.routes(), *metrics.routes(), *admin_reload.routes()]


class Connector:
    """The running service. ``start()`` returns at once; ``stop()`` flushes."""

    def __init__(self, settings: Settings, planner: Planner | None = None, log_file: str | None = None):
        """Raises StorageError, RecordingError or ConfigError with a message an
        admin can act on. ``log_file``: where this process logs (None: stderr),
        where delivery processes log too."""
        self.settings, self.log_file = settings, log_file
        self.directory = CustomerDirectory(parse_customers(settings.customers))
        self.recordings = recordings.Recordings.from_settings(settings.recordings, settings.http.public_url)
        self.db = open_database(settings.storage.url)
        migrate(self.db)
        self.writer = StorageWriter(self.db, commit_window=settings.storage.commit_window)
        self.own_planner = planner is None  # a reload builds the [[customers]] one again
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
        self.links = self._links(settings)
        self.client = self.links[0].client  # the first node's
        self.trackers = NodeTrackers({link.node: link.tracker for link in self.links})
        self.cdrs = CdrService(self.db, self.trackers, self.writer, retention=settings.cdr.retention)
        c = settings.cdr
        self.cdr_scanner = CdrScanner(self.cdrs, c.directories, c.scan_interval, c.delete_processed,
                                      c.max_body, c.retention) if c.directories else None
        self.cdr_retention = CdrRetention(self.db, c.retention, self.cdr_scanner)
        self.call_retention = CallRetention(self.db, settings.storage.call_retention)
        self.metrics = self._metrics()
        extras = {"recordings": self.recordings, cdr_api.SERVICE_KEY: self.cdrs, metrics.CONTEXT_KEY: self.metrics}
        self.api_context = ApiContext(self.db, self.client, self.directory, self.writer, self.deliverer,
                                      settings, extras=extras, nodes={link.node: link for link in self.links})
        h = settings.http
        self.http = HttpServer(HttpApi(self.api_context, http_routes()), h.host, h.port,
                               certfile=h.tls_cert or None, keyfile=h.tls_key or None)

    def enable_reload(self, path: str, logs=None) -> Reloader:
        """SIGHUP and ``POST /api/v1/admin/reload`` read ``path`` again (``reload.py``);
        ``logs``: the ``logs.LogOutput`` whose level, format and secrets follow it."""
        reloader = Reloader(self, path, logs)
        reloader.on_result = self.metrics.reloaded
        self.api_context.extras[admin_reload.RELOADER_KEY] = reloader
        return reloader

    def _links(self, settings: Settings) -> list[NodeLink]:
        """One link per FreeSWITCH node, each taking up its own calls and
        presence as last committed; the resync after connecting sorts its
        calls into live, ended while we were away, and new."""
        names = [fs.node for fs in settings.node_settings()]
        snapshot = load_tracker_snapshot(self.db, TrackerSettings().max_finished_remembered,
                                         time.time() - FINISHED_REMEMBERED_SECONDS)
        parts = split_snapshot(snapshot, names)
        links = []
        for fs in settings.node_settings():
            tracker = Tracker(tracker_settings(settings, self.directory, fs.node))
            tracker.restore(parts[fs.node])
            links.append(NodeLink(fs, tracker, self._submit, self._event_seen, self._scan_cdrs,
                                  lambda *identity: self.trackers.learn(*identity)))
        return links

    @property
    def tracker(self) -> Tracker:
        """The first node's tracker (the only one with a single [freeswitch])."""
        return self.links[0].tracker

    @tracker.setter
    def tracker(self, tracker: Tracker) -> None:
        """Replace the first node's tracker before ``start()`` (for tests and embedding)."""
        link = self.links[0]
        tracker.calls.settings.node = tracker.extensions.node = link.node
        link.tracker = tracker
        link.select_headers()
        self.trackers.replace(link.node, tracker)

    @property
    def resyncs(self) -> int:
        """Resyncs done by the node that did fewest (> 0: every node resynced once)."""
        return min(link.resyncs for link in self.links)

    def _deliverer(self, settings: Settings, planner: Planner | None) -> DeliveryEngine | DeliveryProcesses:
        """The engine here, or child processes running it ([delivery] process =
        "separate", ``processes`` of them; a ``planner`` given by a test or an
        embedder keeps it here)."""
        d = settings.delivery
        if d.process == "separate" and planner is None:
            return DeliveryProcesses(settings, d.workers, d.processes, self.log_file)
        return DeliveryEngine.from_settings(self.db, planner or webhooks.planner(
            self.directory, user_agent=settings.delivery.user_agent,
            recording_url=self.recordings.url_for), settings.delivery)

    def _metrics(self) -> metrics.ConnectorMetrics:
        """This connector's own registry, fed by the parts and read at scrape time."""
        made = metrics.ConnectorMetrics()
        made.watch(StateCollector(StateSources(
            [(link.node, link.client) for link in self.links],
            lambda: [c for link in self.links for c in link.tracker.calls.active_calls()],
            self.writer, self.db, self.directory, self.deliverer)))
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
        if self.settings.cdr.enabled:
            self.cdr_retention.start()
        self.call_retention.start()
        for link in self.links:
            link.start()
        self.http.start()
        log.info("connector started: FreeSWITCH %s, storage %s",
                 ", ".join(f"{link.node} {link.fs.host}:{link.fs.port}" for link in self.links),
                 self.settings.storage.url.split("@")[-1])
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
        self.deliverer.stop_picking()
        self.http.stop(timeout=min(2.0, self.settings.delivery.stop_timeout / 4))
        if self.api_context.extras.get(click2call.SERVICE_KEY) is not None:
            click2call.service(self.api_context).stop()
        if self.cdr_scanner is not None:
            self.cdr_scanner.stop()
        self.cdr_retention.stop()
        self.call_retention.stop()
        self.cdrs.stop()
        for link in self.links:
            link.stop(timeout=min(5.0, self.settings.delivery.stop_timeout / 3))
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

    # -- event path: runs on each node's dispatcher greenlet, no I/O ---------
    def _event_seen(self, node: str, event: Event) -> None:
        self.metrics.event_received(event, node)

    def _submit(self, changes) -> None:
        self.metrics.changes_made(changes)
        self.writer.submit(changes)

    def _scan_cdrs(self) -> None:
        if self.cdr_scanner is not None:
            self.cdr_scanner.scan()
