"""One FreeSWITCH node: its Event Socket client, its call tracker, and the
resync after each (re)connect plus the audits while connected.

Each node's link connects and reconnects on its own: one node down never
stops another's events, resyncs or click-to-calls, and a node's resync only
compares that node's calls and registrations with what its FreeSWITCH has.
Everything the links produce goes through the one storage writer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent

from .api import status_views
from .calls.tracker import Tracker, parse_rows
from .esl.client import ESLError, EventSocketClient
from .esl.protocol import Event
from .esl.registrations import with_user_agents
from .settings.nodes_config import FreeSwitchSettings

log = logging.getLogger(__name__)

# An audit never declares lost a leg with events this recent (FreeSWITCH's
# channel table lags new channels).
AUDIT_GRACE_SECONDS = 10.0
RESYNC_RETRY_SECONDS = 1.0  # first wait before asking FreeSWITCH's state again after a failure
# Event headers read here and by ``event_seen`` (the metrics), besides the tracker's.
LINK_HEADERS = frozenset({"FreeSWITCH-Switchname", "Core-UUID", "Event-Name", "Event-Subclass"})


class NodeLink:
    """``fs``: the node's settings; ``tracker``: its own call tracker;
    ``submit(changes)``: to storage; ``event_seen(node, event)``: metrics;
    ``before_reconcile()``: run before each comparison (the CDR scanner);
    ``learn(node, switchname, core_uuid)``: what the node calls itself."""

    def __init__(self, fs: FreeSwitchSettings, tracker: Tracker, submit: Callable,
                 event_seen: Callable[[str, Event], None], before_reconcile: Callable[[], None],
                 learn: Callable[[str, str, str], None] | None = None):
        self.fs, self.node, self.tracker = fs, fs.node, tracker
        self._submit, self._event_seen, self._before_reconcile = submit, event_seen, before_reconcile
        self._learn = learn
        self.client = EventSocketClient(
            fs.host, fs.port, fs.password, event_format=fs.event_format,
            on_event=self.on_event, on_connect=self._on_connect, on_disconnect=self._on_disconnect,
            command_timeout=fs.command_timeout, connect_timeout=fs.connect_timeout,
            heartbeat_timeout=fs.heartbeat_timeout, backoff_max=fs.reconnect_max_delay,
        )
        self.select_headers()
        self.info: dict = {}  # per-session facts for the status API (FreeSWITCH's version)
        self.switchname = ""  # FreeSWITCH-Switchname of this session's events
        self._identified = False
        self._resync: gevent.Greenlet | None = None
        self.stopping = False
        self.resyncs = 0

    def select_headers(self) -> None:
        """Have the client decode only the event headers read here (again after
        a reload changed which variables the tracker keeps)."""
        self.client.select_headers(self.tracker.event_headers() | LINK_HEADERS)

    def start(self) -> None:
        self.client.start()

    def stop(self, timeout: float) -> None:
        self.stopping = True
        if self._resync is not None:
            self._resync.kill()
        self.client.stop(timeout=timeout)

    # -- event path: runs on this node's dispatcher greenlet, no I/O ---------
    def on_event(self, event: Event) -> None:
        self._event_seen(self.node, event)
        if not self._identified:
            self._identify(event)
        changes = self.tracker.handle(event)
        if changes:
            self._submit(changes)

    def _identify(self, event: Event) -> None:
        self._identified = True
        self.switchname = event.get("FreeSWITCH-Switchname")
        if self._learn is not None:
            self._learn(self.node, self.switchname, event.get("Core-UUID"))

    def _on_connect(self, client: EventSocketClient) -> None:
        self._identified = False  # a restarted FreeSWITCH has a new Core-UUID
        self.tracker.begin_snapshot(connecting=True)  # before the subscription's events start to flow
        if self._resync is not None:
            self._resync.kill(block=False)
        self._resync = gevent.spawn(self._resync_state)
        self._resync.link_exception(lambda g: log.error("node %s: resync failed: %s", self.node, g.exception))

    def _on_disconnect(self, reason: str) -> None:
        if self.stopping:
            return
        log.warning("FreeSWITCH node %s (%s:%s) connection lost (%s); its calls in progress are kept "
                    "and reconciled when it returns", self.node, self.fs.host, self.fs.port, reason)

    def _freeswitch_now(self) -> float:
        """FreeSWITCH's clock (``strepoch``): calls that ended while we were
        away are closed at this time, on the same clock as their other times."""
        reply = self.client.api("strepoch").strip()
        if reply.isdigit():
            return float(reply)
        log.warning("FreeSWITCH node %s answered %r to strepoch; using the connector's clock",
                    self.node, reply[:60])
        return time.time()

    def _resync_state(self) -> None:
        """Rebuild extensions and calls from FreeSWITCH after a (re)connect,
        then audit them every ``audit_interval`` while connected. Waits
        ``resync_delay`` first: ``show channels`` reads a table that
        FreeSWITCH updates asynchronously."""
        gevent.sleep(self.fs.resync_delay)
        retry = RESYNC_RETRY_SECONDS
        while not self.reconcile(grace=0.0):
            # Until it works, calls taken up or kept across the gap cannot be
            # told live from ended: try again (legs with events since the
            # connect still count as live).
            gevent.sleep(retry)
            retry = min(retry * 2, self.fs.reconnect_max_delay)
        status_views.freeswitch_version(self.client, self.info)
        interval = self.fs.audit_interval
        while interval > 0:
            gevent.sleep(interval)
            self.tracker.begin_snapshot()
            self.reconcile(grace=AUDIT_GRACE_SECONDS)

    def reconcile(self, grace: float) -> bool:
        """One comparison of this node's tracker with its FreeSWITCH's live
        state. An audit catches what a lost event left behind (FreeSWITCH
        drops events for a listener that falls behind: "Lost N events")."""
        try:
            registrations = with_user_agents(self.client.api,
                                             parse_rows(self.client.api("show registrations as json")))
            channels = parse_rows(self.client.api("show channels as json"))
            now = self._freeswitch_now()
        except (ESLError, ValueError) as exc:
            log.warning("node %s: could not read FreeSWITCH's channels and registrations (%s); "
                        "trying again", self.node, exc)
            return False
        # CDRs first: mod_json_cdr writes a leg's CDR before FreeSWITCH drops the
        # channel, so a leg now gone has its exact end on disk, not a guess.
        self._before_reconcile()
        result = self.tracker.resync(registrations, channels, now, grace=grace)
        self.resyncs += 1
        if result.changes:
            self._submit(result.changes)
        return True
