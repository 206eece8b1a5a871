"""The status API (``/api/v1/...``) for the TUI, operators and CRMs.

Thin: parse the query, check the bearer token, call the read side
(``storage.queries``, ``delivery.admin``) and ``status_views``, return JSON.

Authentication (docs/http-api.md): ``Authorization: Bearer <http.api_token>``
(or ``ESL_CONNECTOR_API_TOKEN``), compared in constant time. With no token
configured the API answers only while the server is bound to a loopback
address, and only to loopback clients; bound anywhere else it refuses every
request (403 ``status_api_disabled``). ``/api/v1/openapi.json`` is public.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from functools import wraps
from pathlib import Path

from werkzeug.wrappers import Response

from storage import queries
from storage.models import OUTBOX_STATUSES

from ..delivery import admin as delivery_admin
from ..settings.config import HttpSettings
from . import status_extensions, status_metrics, status_requests, status_views
from .recordings import RecordingError, recordings_of
from .server import ApiError, Route

log = logging.getLogger(__name__)

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"  # package data
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
AUTH_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="esl-connector"'}


def http_settings(ctx) -> HttpSettings:
    return getattr(ctx.settings, "http", None) or HttpSettings()


def is_loopback(host: str | None) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()  # equal lengths: compare_digest leaks nothing


def authorize(request, ctx) -> None:
    http = http_settings(ctx)
    if not http.api_token:
        if is_loopback(http.host) and is_loopback(request.remote_addr):
            return
        raise ApiError(403, "status_api_disabled", "the status API needs a token when the server "
                       "listens beyond loopback: set http.api_token or ESL_CONNECTOR_API_TOKEN")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(_digest(given.strip()), _digest(http.api_token)):
        raise ApiError(401, "unauthorized", "a valid bearer token is required", AUTH_CHALLENGE)


def protected(handler):
    @wraps(handler)
    def checked(request, ctx, **args):
        authorize(request, ctx)
        return handler(request, ctx, **args)
    return checked


# -- query parameters -------------------------------------------------------------------

def _bad(name: str, why: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {why}")


def int_arg(request, name: str, default: int | None, low: int = 1, high: int = MAX_LIMIT) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise _bad(name, f"expected a whole number from {low} to {high}")
    return int(raw)


def float_arg(request, name: str) -> float | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise _bad(name, "expected a number (epoch seconds)") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _bad(name, "expected a finite number")
    return value


def bool_arg(request, name: str) -> bool | None:
    raw = request.args.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise _bad(name, "expected true or false")


def node_scope(request, ctx) -> list[str] | None:
    """The nodes whose extensions and calls a list shows: this connector's
    own (its configured nodes) unless ``nodes=all``, every node in the
    database (connectors sharing it each have their own). None: no filter."""
    scope = request.args.get("nodes", "").strip().lower() or "own"
    if scope not in ("own", "all"):
        raise _bad("nodes", "expected own (this connector's nodes, the default) or all (every node "
                            "in the database)")
    if scope == "all":
        return None
    if ctx.nodes:
        return list(ctx.nodes)
    node_settings = getattr(getattr(ctx, "settings", None), "node_settings", None)
    return [fs.node for fs in node_settings()] if node_settings is not None else None


# -- handlers ---------------------------------------------------------------------------

@protected
def get_health(request, ctx):
    body = status_views.health(ctx)
    nodes = node_scope(request, ctx)
    body["calls"] = {"active": status_extensions.active_calls(ctx.db, nodes) if body["database"]["ok"] else None}
    return body


@protected
def get_extensions(request, ctx):
    state, node = request.args.get("state") or None, request.args.get("node") or None
    rows = queries.list_extensions(ctx.db, domain=request.args.get("domain") or None,
                                   nodes=None if node else node_scope(request, ctx))
    views = [status_views.extension_view(e) for e in rows if state in (None, e.state) and node in (None, e.node)]
    since = status_extensions.add_figures(views, ctx.db, ctx.directory, ctx.clock())
    return {"today_since": since, "extensions": views}


def _recording_link(ctx):
    """call -> its recording URL as the owning customer would get it now; None when not served."""
    try:
        recordings = recordings_of(ctx)
    except RecordingError as exc:
        log.warning("recording links unavailable: %s", exc)
        return None
    if not recordings.enabled:
        return None
    now, directory = ctx.clock(), ctx.directory

    def link(call) -> str:
        owner = directory.owner(call.extension, call.domain) if directory is not None else None
        return recordings.url_for(call.recording, owner, now)
    return link


@protected
def get_calls(request, ctx):
    limit = int_arg(request, "limit", DEFAULT_LIMIT)
    calls = queries.list_calls(ctx.db, active=bool_arg(request, "active"),
                               extension=request.args.get("extension") or None,
                               limit=limit, before=float_arg(request, "before"),
                               node=request.args.get("node") or None,
                               nodes=None if request.args.get("node") else node_scope(request, ctx))
    link = _recording_link(ctx)
    return {"calls": [status_views.call_view(c, link) for c in calls],
            "next_before": calls[-1].started_at if len(calls) == limit else None}


@protected
def get_call(request, ctx, callid: str):
    call = queries.get_call(ctx.db, callid)
    if call is None:
        raise ApiError(404, "call_not_found", "no such call")
    timeline = []
    for event in call.events:
        detail = delivery_admin.get_delivery(ctx.db, event.id)
        timeline.append(status_views.delivery_view(detail) if detail else status_views.event_view(event))
    return {"call": status_views.call_view(call, _recording_link(ctx)), "events": timeline}


@protected
def get_deliveries(request, ctx):
    status = request.args.get("status") or None
    if status is not None and status not in OUTBOX_STATUSES:
        raise _bad("status", f"expected one of {', '.join(OUTBOX_STATUSES)}")
    limit = int_arg(request, "limit", DEFAULT_LIMIT)
    rows = delivery_admin.list_deliveries(
        ctx.db, status=status, customer=request.args.get("customer"),
        callid=request.args.get("callid") or None, limit=limit,
        before_id=int_arg(request, "before", None, 1, 2**63 - 1))
    return {"deliveries": [status_views.event_view(e) for e in rows],
            "next_before": rows[-1].id if len(rows) == limit else None}


@protected
def get_delivery(request, ctx, key: str):
    detail = delivery_admin.get_delivery(ctx.db, key)
    if detail is None:
        raise ApiError(404, "delivery_not_found", "no such delivery")
    delivery = getattr(getattr(ctx, "settings", None), "delivery", None)
    requests = status_requests.requests_for(detail.event, ctx.db, ctx.directory, ctx.clock(),
                                            getattr(delivery, "user_agent", "") or "")
    return {"delivery": {**status_views.delivery_view(detail), "requests": requests}}


@protected
def retry_delivery(request, ctx, key: str):
    if delivery_admin.get_delivery(ctx.db, key) is None:
        raise ApiError(404, "delivery_not_found", "no such delivery")
    try:
        event = delivery_admin.retry(ctx.db, key, ctx.clock())
    except delivery_admin.DeliveryAdminError as exc:
        raise ApiError(409, "cannot_retry", str(exc)) from None
    if ctx.delivery is not None:
        ctx.delivery.wake()
    log.info("delivery %s (%s %s) retried through the status API", event.id, event.event_type, event.callid)
    return {"status": "success", "delivery": status_views.event_view(event)}


@protected
def get_delivery_stats(request, ctx):
    now = ctx.clock()
    return {"generated_at": now, "customers": status_views.delivery_stats(ctx.db, ctx.directory, now)}


@protected
def retry_dead(request, ctx, customer: str):
    known = {c.code for c in getattr(ctx.directory, "customers", [])}
    if customer not in known:
        raise ApiError(404, "customer_not_found", f"no customer {customer!r} is configured")
    count = delivery_admin.retry_all_dead(ctx.db, customer, ctx.clock())
    if count and ctx.delivery is not None:
        ctx.delivery.wake()
    log.info("%d dead deliveries of %s replayed through the status API", count, customer)
    return {"status": "success", "customer": customer, "retried": count}


@protected
def get_endpoint_stats(request, ctx):
    minutes = int_arg(request, "minutes", 60, 1, 1440)
    busy = status_views.as_dict(ctx.delivery.status()).get("busy_endpoints", {}) if ctx.delivery else {}
    now = ctx.clock()
    return {"generated_at": now, "window_s": minutes * 60,
            "endpoints": status_metrics.endpoint_stats(ctx.db, now, minutes * 60.0, busy or {})}


@protected
def get_metrics(request, ctx):
    minutes = int_arg(request, "minutes", 30, 1, 180)
    now = ctx.clock()
    return {**status_metrics.series(ctx.db, now, minutes, node_scope(request, ctx)),
            "events_per_second": status_views.events_per_second(ctx, now)}


@protected
def get_endpoint_health(request, ctx):
    now = ctx.clock()
    return {"generated_at": now, "endpoints": status_views.endpoint_health(ctx, now)}


def get_openapi(request, ctx):
    try:
        document = OPENAPI_PATH.read_bytes()
    except OSError:
        raise ApiError(404, "not_found", "the OpenAPI document is not installed here") from None
    return Response(document, content_type="application/json")


def routes() -> list[Route]:
    return [
        Route("/api/v1/openapi.json", get_openapi),
        Route("/api/v1/health", get_health),
        Route("/api/v1/extensions", get_extensions),
        Route("/api/v1/calls", get_calls),
        Route("/api/v1/calls/<callid>", get_call),
        Route("/api/v1/deliveries", get_deliveries),
        Route("/api/v1/deliveries/stats", get_delivery_stats),
        Route("/api/v1/deliveries/endpoints", get_endpoint_stats),
        Route("/api/v1/customers/<customer>/retry-dead", retry_dead, ("POST",)),
        Route("/api/v1/metrics", get_metrics),
        Route("/api/v1/deliveries/health", get_endpoint_health),
        Route("/api/v1/deliveries/<key>", get_delivery),
        Route("/api/v1/deliveries/<key>/retry", retry_delivery, ("POST",)),
    ]
