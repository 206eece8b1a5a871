"""Click-to-call's own writes to the ``calls`` table, and the one read it needs.

The call tracker owns every column of a call except ``params``. Click-to-call
creates the row before it originates (so the CRM's parameters are stored
before FreeSWITCH can produce any event of the call) in state
``originating``; the tracker's first upsert of that callid replaces every
tracker column and keeps ``params`` (see ``batch.write_batch``).

``mark_originate_failed`` records a failure the tracker can never see (the
originate was refused or its result was lost with the connection) and
applies only while the row is still ``originating``: once the tracker has
written the call, its view wins.
"""

from __future__ import annotations

import time

import peewee

from esl_connector.records import CLICK_TO_CALL

from .db import connected
from .models import Call, Extension

ORIGINATING = "originating"
ENDED = "ended"


def save_call_params(db: peewee.Database, callid: str, params: dict[str, str], extension: str,
                     domain: str, phone: str = "", now: float | None = None, node: str = "") -> None:
    """Store the CRM's parameters of ``callid``, creating its row if absent.
    An existing row only gets its ``params`` replaced."""
    now = time.time() if now is None else now
    row = {Call.callid: callid, Call.params: dict(params), Call.extension: extension,
           Call.domain: domain, Call.phone: phone, Call.extensions: [extension],
           Call.direction: CLICK_TO_CALL, Call.state: ORIGINATING, Call.started_at: now,
           Call.created_at: now, Call.updated_at: now, Call.node: node}
    with connected(db), db.atomic():
        (Call.insert(row)
         .on_conflict(conflict_target=[Call.callid], update={Call.params: dict(params)})
         .execute())


def mark_originate_failed(db: peewee.Database, callid: str, cause: str, status: str,
                          now: float | None = None) -> bool:
    """End a click-to-call that never reached the tracker; False if it had."""
    now = time.time() if now is None else now
    with connected(db), db.atomic():
        changed = (Call.update(state=ENDED, status=status, hangup_cause=cause, ended_at=now, updated_at=now)
                   .where((Call.callid == callid) & (Call.state == ORIGINATING))
                   .execute())
    return bool(changed)


def extension_presence(db: peewee.Database, extension: str) -> list[tuple[str, str, str, float]]:
    """(domain, state, node, last registered) of every stored extension with
    this number, on every FreeSWITCH node; the last is the later of the
    registration's expiry and the row's last change."""
    query = (Extension.select(Extension.domain, Extension.state, Extension.node, Extension.expires_at,
                              Extension.updated_at)
             .where(Extension.extension == extension).order_by(Extension.domain, Extension.node))
    with connected(db):
        return [(d, s, n, max(e or 0.0, u or 0.0)) for d, s, n, e, u in query.tuples().execute(db)]
