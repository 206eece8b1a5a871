"""Reading back, at start-up, what the call tracker needs to take up where the
last run's last commit left it (``TrackerSnapshot``).

The writer commits a call's ``tracker_state`` in the same transaction as the
CRM events that state produced, so the snapshot is consistent with the outbox:
what it says was notified is in the outbox, and the reverse.
"""

from __future__ import annotations

import logging

import peewee

from esl_connector.records import CallRecord, ExtensionRecord, TrackerSnapshot

from .db import StorageError, connected, describe
from .models import Call, Extension
from .rows import CALL_FIELDS, EXTENSION_FIELDS

log = logging.getLogger(__name__)

LIVE_STATES = ("ringing", "active")
ENDED = "ended"


def load_tracker_snapshot(db: peewee.Database, finished_limit: int = 20000,
                          finished_since: float = 0.0) -> TrackerSnapshot:
    """Live calls' states, every extension, and the callids and leg uuids of
    at most ``finished_limit`` calls ended (last written) after ``finished_since``."""
    snapshot = TrackerSnapshot()
    live = (Call.select(*[getattr(Call, n) for n in CALL_FIELDS]).where(Call.state.in_(LIVE_STATES))
            .order_by(Call.started_at))
    finished = (Call.select(Call.callid, Call.legs)
                .where(Call.state == ENDED, Call.updated_at >= finished_since)
                .order_by(Call.updated_at.desc()).limit(finished_limit))
    try:
        ended = _read(db, snapshot, live, finished)
    except peewee.DatabaseError as exc:
        raise StorageError(f"cannot read the calls in progress from {describe(db)}: {exc}; "
                           "check that the database is readable and not corrupt") from exc
    for callid, legs in reversed(ended):  # oldest first: the newest are forgotten last
        snapshot.finished.extend([*(legs or []), callid])
    return snapshot


def _read(db, snapshot: TrackerSnapshot, live, finished) -> list[tuple[str, list]]:
    with connected(db):
        for row in live.dicts().execute(db):
            state = row["tracker_state"]
            if isinstance(state, dict) and state.get("legs"):
                if state.get("node", "") != row["node"]:  # the column wins (v5 renamed nodes)
                    state = {**state, "node": row["node"]}
                snapshot.call_states.append(state)
            else:
                snapshot.unrestorable.append(CallRecord(**{**row, "tracker_state": {}}))
        for row in Extension.select(*[getattr(Extension, n) for n in EXTENSION_FIELDS]).dicts().execute(db):
            snapshot.extensions.append(ExtensionRecord(**row))
        return list(finished.tuples().execute(db))



def forget_node(db: peewee.Database, node: str, now: float, cause: str) -> tuple[int, int]:
    """A FreeSWITCH node taken out of service (removed or renamed): delete
    its extensions' presence and close its calls stored as live (ended at
    ``now`` with ``cause``, lost track; no call log is made up). Returns
    (extension rows deleted, calls closed)."""
    try:
        with connected(db), db.atomic():
            extensions = Extension.delete().where(Extension.node == node).execute()
            calls = (Call.update(state=ENDED, ended_at=now, updated_at=now, end_source="lost_track",
                                 hangup_cause=cause, tracker_state={})
                     .where(Call.node == node, Call.state.in_(LIVE_STATES)).execute())
    except peewee.DatabaseError as exc:
        raise StorageError(f"cannot forget node {node!r} in {describe(db)}: {exc}") from exc
    return extensions, calls
