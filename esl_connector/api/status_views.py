"""What the status API returns: JSON-able dicts built from the read side
(``storage.queries``, ``delivery.admin``) and the running parts' ``status()``.

No HTTP here (that is ``status``); every function takes what it reads.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import re

import peewee

from storage import queries
from storage.db import connected
from storage.models import DELIVERED, OUTBOX_DUE, OUTBOX_STATUSES

from .. import __version__
from ..delivery.claims import holders
from ..delivery.webhooks import endpoint_of
from ..records import OFFLINE
from ..settings.phones import sip_text
from .context import CDR_SERVICE_KEY, RELOADER_KEY
from .status_metrics import EventRate

log = logging.getLogger(__name__)

_FS_VERSION = re.compile(r"Version\s+([0-9][^\s()]*)")


def as_dict(obj) -> dict:
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj or {})


# -- calls, extensions, deliveries ----------------------------------------------------

# Text that came from SIP: the tracker stores it escaped (``phones.sip_text``);
# rows written before it did are escaped here, so no client shows a raw control character.
SIP_CALL_FIELDS = ("phone", "userfield")
SIP_EXTENSION_FIELDS = ("contact", "user_agent")


def _shown(data: dict, names: tuple[str, ...]) -> dict:
    for name in names:
        value = data.get(name)
        if isinstance(value, str) and not value.isprintable():
            data[name] = sip_text(value, limit=len(value) * 6)
    return data


def call_view(call, recording_link=None) -> dict:
    """A ``StoredCall`` without its events; ``recording_url`` when a link maker is given."""
    data = _shown({f: getattr(call, f) for f in call.__slots__ if f != "events"}, SIP_CALL_FIELDS)
    if recording_link is not None:
        data["recording_url"] = recording_link(call) if call.recording else ""
    return data


def extension_view(ext) -> dict:
    data = _shown(as_dict(ext), SIP_EXTENSION_FIELDS)
    data["registered"] = ext.state != OFFLINE
    return data


def event_view(event) -> dict:
    return as_dict(event)


def delivery_view(detail) -> dict:
    """A ``delivery_admin.DeliveryDetail``: the outbox row plus its attempts."""
    return {**event_view(detail.event), "attempts": [as_dict(a) for a in detail.attempts],
            "call_end_source": detail.call_end_source}


# -- per-customer delivery statistics -------------------------------------------------

def _empty_stats(customer: str) -> dict:
    return {"customer": customer, "counts": dict.fromkeys(OUTBOX_STATUSES, 0), "backlog": 0,
            "oldest_pending_at": None, "oldest_pending_age_s": None, "last_delivered_at": None}


def _fold(stats: dict, status: str, count: int, oldest: float | None, last: float | None) -> None:
    stats["counts"][status] = stats["counts"].get(status, 0) + count
    if status in OUTBOX_DUE:
        stats["backlog"] += count
        if oldest is not None and (stats["oldest_pending_at"] is None or oldest < stats["oldest_pending_at"]):
            stats["oldest_pending_at"] = oldest
    if status == DELIVERED and last is not None and (stats["last_delivered_at"] is None
                                                     or last > stats["last_delivered_at"]):
        stats["last_delivered_at"] = last


def _planned_endpoint(directory, code: str, extension: str, domain: str, event_type: str) -> str:
    """Where a row not sent yet will go: its customer's endpoint(s) for its
    event type, as the settings of now say ("" when none)."""
    if directory is None:
        return ""
    customer = directory.get(code) if code else directory.owner(extension, domain)
    settings = customer.events.get(event_type) if customer is not None else None
    return " ".join(dict.fromkeys(endpoint_of(url) for url in settings.urls)) if settings else ""


def _outbox_groups(db: peewee.Database, directory) -> list[tuple]:
    """(customer, endpoints, status, count, oldest created_at, last delivered_at)
    over the whole outbox, from its tally (``storage.queries.outbox_tally``)
    and its due rows: a few rows per customer, endpoint and status whatever
    the outbox's size. Rows not yet planned (customer "") go to the customer
    owning their extension today; rows not yet sent (endpoint "") to the
    endpoints their customer's settings give their event type."""
    with connected(db):  # one connection for both
        oldest, tally = queries.oldest_due(db), queries.outbox_tally(db)
    groups = []
    for key, count, last in tally:
        status, customer, endpoint, event_type, extension, domain = key
        if customer:
            endpoint = endpoint or _planned_endpoint(directory, customer, "", "", event_type)
        else:
            owner = directory.owner(extension, domain) if directory is not None else None
            customer = owner.code if owner else ""
            endpoint = _planned_endpoint(directory, customer, "", "", event_type) if owner else ""
        groups.append((customer, endpoint, status, count, oldest.get(key), last))
    return groups


def delivery_stats(db: peewee.Database, directory, now: float) -> list[dict]:
    """Per customer, and per endpoint of each customer (``endpoints``): counts
    by status, backlog (pending + retrying), oldest due row (created_at) and
    its age, last delivery. A row going to several endpoints (failover,
    parallel) counts on each of them; rows nobody owns are under customer ""."""
    by_customer = {c.code: _empty_stats(c.code) for c in getattr(directory, "customers", [])}
    by_endpoint: dict[tuple[str, str], dict] = {}
    for customer, endpoints, status, count, oldest, last in _outbox_groups(db, directory):
        _fold(by_customer.setdefault(customer, _empty_stats(customer)), status, count, oldest, last)
        for endpoint in endpoints.split() or [""]:
            stats = by_endpoint.setdefault((customer, endpoint), {"endpoint": endpoint, **_empty_stats(customer)})
            _fold(stats, status, count, oldest, last)
    for stats in by_customer.values():
        stats["endpoints"] = []
    for (customer, _), stats in sorted(by_endpoint.items()):
        by_customer[customer]["endpoints"].append(stats)
    for stats in [*by_customer.values(), *by_endpoint.values()]:
        if stats["oldest_pending_at"] is not None:
            stats["oldest_pending_age_s"] = round(max(0.0, now - stats["oldest_pending_at"]), 3)
    return sorted(by_customer.values(), key=lambda s: (s["customer"] == "", s["customer"]))


def endpoint_health(ctx, now: float) -> list[dict]:
    """Every endpoint (scheme://host:port) of every customer the delivery
    engine has sent to: its health (``delivery.health``) and the backlog and
    oldest due row of that customer's rows going to that endpoint."""
    engine = as_dict(ctx.delivery.status()) if ctx.delivery is not None else {}
    if not engine.get("endpoints"):
        return []
    stats = {(s["customer"], e["endpoint"]): e for s in delivery_stats(ctx.db, ctx.directory, now)
             for e in s["endpoints"]}
    shown = []
    for endpoint in engine["endpoints"]:
        rows = stats.get((endpoint["customer"], endpoint["endpoint"])) or _empty_stats(endpoint["customer"])
        shown.append({**endpoint, "backlog": rows["backlog"],
                      "oldest_pending_at": rows["oldest_pending_at"],
                      "oldest_pending_age_s": rows["oldest_pending_age_s"]})
    return shown


# -- health ---------------------------------------------------------------------------

def database_health(db) -> dict:
    try:
        with connected(db):
            db.execute_sql("SELECT 1").fetchall()
        return {"ok": True, "error": ""}
    except Exception as exc:  # the health check reports it, whatever it is
        log.warning("health check: database query failed: %s", exc)
        return {"ok": False, "error": str(exc).strip() or type(exc).__name__}


def parse_freeswitch_version(text: str) -> str:
    """``FreeSWITCH Version 1.10.12-release+git~... (git ...)`` -> ``1.10.12-release+git~...``."""
    match = _FS_VERSION.search(text or "")
    return match.group(1) if match else ""


def freeswitch_version(esl, extras: dict) -> str:
    """FreeSWITCH's version (``api version``), asked once per Event Socket
    session and kept in ``extras``: a restarted or upgraded FreeSWITCH means a
    new session, so it is asked again. The app may call this from
    ``on_connect``; otherwise the first health request asks. "" when unknown."""
    if esl is None:
        return ""
    status = esl.status()
    cached = extras.get("freeswitch_version")
    if cached and (cached[0] == status.since or not status.connected):
        return cached[1]
    if not status.connected:
        return ""
    try:  # the client's command_timeout: a shorter one would reset the session more readily
        version = parse_freeswitch_version(esl.api("version"))
    except Exception as exc:  # not connected any more, timeout...: unknown for now
        log.debug("api version failed: %s", exc)
        return cached[1] if cached else ""
    if version:
        extras["freeswitch_version"] = (status.since, version)
    return version


def events_per_second(ctx, now: float) -> float | None:
    """The Event Socket's events per second lately, every node together
    (None until two readings)."""
    if ctx.esl is None:
        return None
    clients = [link.client for link in ctx.nodes.values()] or [ctx.esl]
    meter = ctx.extras.get("event_rate")
    if meter is None:  # the client's counter was 0 when the connector started
        meter = ctx.extras["event_rate"] = EventRate(origin=(ctx.started_at, 0))
    return meter.sample(now, sum(client.status().events_received for client in clients))


# -- FreeSWITCH nodes: each node's link; a node down never stops the others (docs/nodes.md)

def node_view(name: str, link) -> dict:
    status = link.client.status()
    return {
        "node": name, "host": link.fs.host, "port": link.fs.port,
        "connected": status.connected, "since": status.since, "last_error": status.last_error,
        "reconnects": status.reconnects, "events_received": status.events_received,
        "last_frame_at": status.last_frame_at, "core_uuid": status.core_uuid,
        "switchname": link.switchname or status.hostname or "",
        "version": freeswitch_version(link.client, link.info),
    }


def node_views(ctx) -> list[dict]:
    """Every configured node, in configuration order ([] when the context has none)."""
    return [node_view(name, link) for name, link in ctx.nodes.items()]


def health(ctx) -> dict:
    """``freeswitch``: the first node's link (every node's in ``nodes``);
    degraded while any node is down."""
    esl = as_dict(ctx.esl.status()) if ctx.esl is not None else {"connected": False}
    esl["events_per_second"] = events_per_second(ctx, ctx.clock())
    database = database_health(ctx.db)
    counts = queries.outbox_counts(ctx.db) if database["ok"] else {}
    nodes = node_views(ctx)
    fs_version = nodes[0]["version"] if nodes else freeswitch_version(ctx.esl, ctx.extras)
    esl["node"] = nodes[0]["node"] if nodes else ""
    nodes_down = [n["node"] for n in nodes if not n["connected"]]
    writer = as_dict(ctx.writer.status()) if ctx.writer is not None else None
    engine = as_dict(ctx.delivery.status()) if ctx.delivery is not None else None
    # Degraded while changes cannot be committed (they wait in memory, nothing is
    # dropped) or if the writer is not running (nothing would be committed).
    writer_failing = writer is not None and (bool(writer.get("last_error")) or not writer.get("running"))
    engine_stopped = engine is not None and not engine.get("running", True)
    ok = (bool(esl.get("connected")) and not nodes_down and database["ok"] and not writer_failing
          and not engine_stopped)
    cdrs = ctx.extras.get(CDR_SERVICE_KEY)
    return {
        "status": "ok" if ok else "degraded",
        "uptime_s": round(ctx.clock() - ctx.started_at, 3),
        "freeswitch": {**esl, "version": fs_version},
        "nodes": nodes,
        "nodes_down": nodes_down,
        "database": database,
        "writer": writer,
        "delivery": {"engine": engine, "counts": counts,
                     "backlog": sum(counts.get(s, 0) for s in OUTBOX_DUE) if database["ok"] else None,
                     "endpoints_down": sum(1 for e in (engine or {}).get("endpoints", [])
                                           if e.get("state") != "healthy"),
                     "claims": holders(ctx.db, ctx.clock()) if database["ok"] else {}},
        "cdr": cdrs.status() if cdrs is not None else None,
        "config": reloader.status() if (reloader := ctx.extras.get(RELOADER_KEY)) is not None else None,
        "versions": {"connector": __version__, "python": platform.python_version(),
                     "freeswitch": fs_version},
    }
