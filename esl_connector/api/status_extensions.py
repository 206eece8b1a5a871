"""Per-extension figures for the status API's extension list (the TUI's
Extensions screen and header): the number of calls in progress, the customer owning the extension, its current call
(number, direction, when it started and was answered), and today's calls and
answer rate.

Read side only, no HTTP (``status`` serves it). "Today" starts at the
connector's local midnight; a call counts for the extension that answered it,
else the last one rung (``calls.extension``), as the call log does.
"""

from __future__ import annotations

import time

import peewee

from storage.db import connected
from storage.models import Call
from storage.queries import not_ended

from ..records import ANSWERED
from ..settings.phones import sip_text

CURRENT_CALL_FIELDS = ("callid", "direction", "state", "phone", "started_at", "answered_at")


def day_start(now: float) -> float:
    """Local midnight before ``now``."""
    year, month, day = time.localtime(now)[:3]
    return time.mktime((year, month, day, 0, 0, 0, 0, 0, -1))


def active_calls(db: peewee.Database, nodes: list[str] | None = None) -> int:
    """Calls not ended (ringing or active); on ``nodes`` only, if given."""
    query = Call.select().where(not_ended(Call.state))
    if nodes is not None:
        query = query.where(Call.node.in_(nodes))
    with connected(db):
        return query.count(db)


def calls_since(db: peewee.Database, since: float) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(extension, domain, node) -> (calls, answered) for calls started at or after
    ``since``; a call in progress counts as answered once it is."""
    answered = peewee.fn.SUM(peewee.Case(None, [((Call.status == ANSWERED) | (Call.answered_at > 0), 1)], 0))
    query = (Call.select(Call.extension, Call.domain, Call.node, peewee.fn.COUNT(Call.callid), answered)
             .where(Call.started_at >= since, Call.extension != "")
             .group_by(Call.extension, Call.domain, Call.node))
    with connected(db):
        return {(ext, domain, node): (int(count), int(done or 0))
                for ext, domain, node, count, done in query.tuples().execute(db)}


def current_calls(db: peewee.Database, callids: set[str]) -> dict[str, dict]:
    """callid -> the few fields of that call an extension row shows."""
    if not callids:
        return {}
    columns = [Call._meta.fields[name] for name in CURRENT_CALL_FIELDS]
    query = Call.select(*columns).where(Call.callid.in_(sorted(callids)))
    with connected(db):
        rows = [dict(zip(CURRENT_CALL_FIELDS, row)) for row in query.tuples().execute(db)]
    for row in rows:
        if not str(row["phone"]).isprintable():
            row["phone"] = sip_text(row["phone"], limit=len(row["phone"]) * 6)
    return {row["callid"]: row for row in rows}


def add_figures(views: list[dict], db: peewee.Database, directory, now: float) -> float:
    """Adds ``customer``, ``call`` (None without a current call),
    ``calls_today``, ``answered_today`` and ``answer_rate`` (None without a
    call today) to each extension view; returns the start of "today"."""
    since = day_start(now)
    today = calls_since(db, since)
    calls = current_calls(db, {v["callid"] for v in views if v.get("callid")})
    for view in views:
        owner = directory.owner(view["extension"], view["domain"]) if directory is not None else None
        count, answered = today.get((view["extension"], view["domain"], view.get("node", "")), (0, 0))
        view.update(customer=owner.code if owner else "", call=calls.get(view.get("callid") or ""),
                    calls_today=count, answered_today=answered,
                    answer_rate=round(answered / count, 4) if count else None)
    return since
