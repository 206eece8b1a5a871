"""Several FreeSWITCH nodes: one ``Tracker`` per node, and what joins them.

Each node's events go to its own tracker (its calls, its extensions, its
resyncs: one node's reconnect never touches another's calls). What arrives
without a node, the CDRs (POSTed by mod_json_cdr or read from its
directories), is routed here to the tracker of the call it belongs to; a CDR
of a call no tracker knows goes to the node that wrote it (``switchname`` or
``core-uuid``, as learnt from each node's events, or a node named like its
switchname), else to the first node. At start-up the stored snapshot is split
by node. Pure: no I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..records import TrackerSnapshot
from .cdr import CdrLeg
from .cdr_calls import CdrResult
from .tracker import Tracker

log = logging.getLogger(__name__)


@dataclass(slots=True)
class NodeIdentity:
    """What a node's FreeSWITCH calls itself, learnt from its events."""

    switchname: str = ""
    core_uuid: str = ""


def split_snapshot(snapshot: TrackerSnapshot, nodes: list[str]) -> dict[str, TrackerSnapshot]:
    """The stored snapshot, per configured node. What is stored for other
    nodes is left alone: another connector sharing the database may follow
    them (or the node was removed or renamed: ``esl-connector forget-node``).
    Recently finished calls go to every node (UUIDs are unique across nodes)."""
    parts = {name: TrackerSnapshot(finished=list(snapshot.finished)) for name in nodes}
    others: set[str] = set()
    for state in snapshot.call_states:
        if _followed(parts, state.get("node", ""), others):
            parts[state["node"]].call_states.append(state)
    for record in snapshot.unrestorable:
        if _followed(parts, record.node, others):
            parts[record.node].unrestorable.append(record)
    for record in snapshot.extensions:
        if record.node in parts:
            parts[record.node].extensions.append(record)
    if others:
        log.warning("calls in progress are stored for FreeSWITCH nodes this connector does not follow "
                    "(%s): left as they are (another connector's; or, for a node removed or renamed, "
                    "close them with esl-connector forget-node)", ", ".join(sorted(others)))
    return parts


def _followed(parts: dict, node: str, others: set[str]) -> bool:
    if node in parts:
        return True
    others.add(node)
    return False


class CdrWaiting:
    """``Tracker.cdrs`` as the CDR service reads it: legs waiting, all nodes."""

    def __init__(self, trackers: list[Tracker]):
        self._trackers = trackers

    def waiting(self) -> int:
        return sum(t.cdrs.waiting() for t in self._trackers)


@dataclass
class NodeTrackers:
    """The trackers of every node, in configuration order, behind the
    interface the CDR service uses (``handle_cdr``, ``cdr_tick``, ``cdrs``)."""

    trackers: dict[str, Tracker]
    identities: dict[str, NodeIdentity] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cdrs = CdrWaiting(list(self.trackers.values()))
        for name in self.trackers:
            self.identities.setdefault(name, NodeIdentity())

    def replace(self, node: str, tracker: Tracker) -> None:
        self.trackers[node] = tracker
        self.cdrs = CdrWaiting(list(self.trackers.values()))

    def learn(self, node: str, switchname: str, core_uuid: str) -> None:
        """What ``node``'s FreeSWITCH calls itself (from its events' headers)."""
        identity = self.identities[node]
        identity.switchname, identity.core_uuid = switchname, core_uuid

    def node_for_cdr(self, leg: CdrLeg) -> str:
        for name, tracker in self.trackers.items():
            if (tracker.calls.open_call(leg.uuid, leg.callid) is not None
                    or leg.callid in tracker.cdrs.pending.calls):
                return name
        for name, tracker in self.trackers.items():
            if tracker.calls.is_finished(leg.callid) or tracker.calls.is_finished(leg.uuid):
                return name
        return self.writer_of(leg)

    def writer_of(self, leg: CdrLeg) -> str:
        """The node whose FreeSWITCH wrote this CDR, by what it says of itself."""
        for name, identity in self.identities.items():
            if leg.core_uuid and identity.core_uuid == leg.core_uuid:
                return name
        switchname = leg.switchname.lower()
        if switchname:
            for name, identity in self.identities.items():
                if identity.switchname.lower() == switchname or name.lower() == switchname:
                    return name
        first = next(iter(self.trackers))
        if len(self.trackers) > 1:
            log.info("CDR of leg %s (switchname %r) names no configured node: taken by node %s",
                     leg.uuid, leg.switchname, first)
        return first

    def handle_cdr(self, leg: CdrLeg, now: float, reported: bool = False) -> CdrResult:
        return self.trackers[self.node_for_cdr(leg)].handle_cdr(leg, now, reported)

    def cdr_tick(self, now: float) -> CdrResult:
        total = CdrResult()
        for tracker in self.trackers.values():
            result = tracker.cdr_tick(now)
            total.changes.extend(result.changes)
            total.reported.extend(result.reported)
            total.done.extend(result.done)
        return total
