"""``GET /metrics``: the connector's figures in Prometheus' text format.

One ``ConnectorMetrics`` per running connector, with its own
``CollectorRegistry`` (never prometheus_client's global one: several
connectors may live in one process, as in the tests). Two kinds of figures:

* counted as things happen, by the part that sees them, through the app's
  wiring (no part imports this module): ESL events by name, CRM events
  derived, click-to-call requests by result, every delivery request by
  customer, endpoint and outcome, outbox rows leaving "due", the delivery
  latency and the writer's commit time. Each is a counter increment or a
  histogram observation: the Event Socket path stays cheap;
* read when scraped (``metrics_state.StateCollector``): the Event Socket link
  per node, calls in progress, the outbox per customer and status with its
  oldest due row, the writer's queue.

Protected like the status API (``status.authorize``). See docs/http-api.md.
"""

from __future__ import annotations

import logging
import time
from functools import wraps

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import choose_encoder
from werkzeug.wrappers import Response

from ..delivery.sender import verdict_for_status
from ..delivery.types import RETRY
from ..delivery.webhooks import endpoint_of as endpoint_of_url
from .server import ApiError, Route
from .status import authorize

log = logging.getLogger(__name__)

CONTEXT_KEY = "metrics"  # ApiContext.extras[CONTEXT_KEY] -> ConnectorMetrics
PREFIX = "esl_connector_"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def attempt_outcome(attempt) -> str:
    """delivered | retry | give_up, as the engine judges one HTTP attempt;
    no response (timeout, connection error) is retry."""
    return verdict_for_status(attempt.status_code) if attempt.status_code is not None else RETRY


class ConnectorMetrics:
    def __init__(self, node: str = ""):
        self.node = node  # the node of events counted without one
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, _open_fds, _cpu_seconds_total...
        PlatformCollector(registry=r)  # python_info
        self.esl_events = EventCounts()
        r.register(self.esl_events)
        self.crm_events = Counter(f"{PREFIX}crm_events", "CRM events derived from calls (outbox rows queued)",
                                  ("event_type",), registry=r)
        self.deliveries = Counter(f"{PREFIX}delivery_requests", "HTTP requests to CRMs, by customer, endpoint "
                                  "and outcome (delivered, retry, give_up)", ("customer", "endpoint", "outcome"),
                                  registry=r)
        self.outbox_results = Counter(f"{PREFIX}outbox_results", "Outbox rows after a delivery attempt or "
                                      "planning, by customer and new status (delivered, retrying, dead, skipped)",
                                      ("customer", "status"), registry=r)
        self.delivery_latency = Histogram(f"{PREFIX}delivery_latency_seconds", "From the event reaching the "
                                          "connector (or its replay) to the start of the CRM request that "
                                          "delivered it", ("customer",), buckets=LATENCY_BUCKETS, registry=r)
        self.request_duration = Histogram(f"{PREFIX}delivery_request_duration_seconds", "Duration of one HTTP "
                                          "request to a CRM endpoint", ("customer", "endpoint"),
                                          buckets=REQUEST_BUCKETS, registry=r)
        self.click2call = Counter(f"{PREFIX}click2call_requests", "Click-to-call requests, by result "
                                  "(success or the error code answered)", ("result",), registry=r)
        self.commit_seconds = Histogram(f"{PREFIX}writer_commit_seconds", "Duration of the storage writer's "
                                        "transactions", buckets=COMMIT_BUCKETS, registry=r)
        self.reloads = Counter(f"{PREFIX}config_reloads", "Configuration reloads (SIGHUP or the API), by "
                               "result (applied, refused)", ("result",), registry=r)
        self.reload_needs_restart = Gauge(f"{PREFIX}config_needs_restart", "1 when the last reload found "
                                          "settings that take effect only after a restart", registry=r)

    def watch(self, collector) -> None:
        """Add a collector read at each scrape (``metrics_state.StateCollector``)."""
        self.registry.register(collector)

    # -- fed by the app's wiring ---------------------------------------------------------

    def event_received(self, event, node: str | None = None) -> None:
        """On a node's Event Socket dispatcher: a dictionary lookup and an increment."""
        name = event.name
        if name == "CUSTOM":
            name = event.subclass or name
        key = (self.node if node is None else node, name or "unknown")
        counts = self.esl_events.counts
        counted = counts.get(key)
        if counted is None:
            self.esl_events.created[key] = time.time()
            counts[key] = 1
        else:
            counts[key] = counted + 1

    def changes_made(self, changes) -> None:
        for event in changes.crm_events:
            self.crm_events.labels(event.event_type).inc()

    def committed(self, seconds: float) -> None:
        self.commit_seconds.observe(max(0.0, seconds))

    def delivery_result(self, event, customer: str, status: str, attempts) -> None:
        """The delivery engine's ``on_result``: one outbox row's attempt(s) and new status."""
        self.outbox_results.labels(customer, status).inc()
        for attempt in attempts:
            endpoint = endpoint_of_url(attempt.url)
            outcome = attempt_outcome(attempt)
            self.deliveries.labels(customer, endpoint, outcome).inc()
            if attempt.latency_ms is not None:
                self.request_duration.labels(customer, endpoint).observe(attempt.latency_ms / 1000.0)
            if outcome == "delivered":
                since = max(event.created_at, event.replayed_at or 0.0)
                self.delivery_latency.labels(customer).observe(max(0.0, attempt.started_at - since))

    def reloaded(self, result) -> None:
        """The reloader's ``on_result`` (a reload.ReloadResult)."""
        self.reloads.labels("applied" if result.applied else "refused").inc()
        if result.applied:
            self.reload_needs_restart.set(1 if result.needs_restart else 0)

    def click2call_result(self, result: str) -> None:
        self.click2call.labels(result).inc()

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class EventCounts:
    """``esl_connector_esl_events_total{node,event}``: plain ints bumped on the
    Event Socket path (a prometheus_client ``Counter`` takes a lock for each
    increment), exposed at scrape time as that counter would be, with its
    ``_created`` time. Bumped by one greenlet thread only, read by any."""

    NAME, DOC, LABELS = f"{PREFIX}esl_events", "Event Socket events received, by node and event name", ["node", "event"]

    def __init__(self):
        self.counts: dict[tuple[str, str], int] = {}  # (node, event name) -> events
        self.created: dict[tuple[str, str], float] = {}  # when each was first counted (epoch)

    def describe(self):
        return [CounterMetricFamily(self.NAME, self.DOC, labels=self.LABELS)]

    def collect(self):
        family = CounterMetricFamily(self.NAME, self.DOC, labels=self.LABELS)
        created = dict(self.created)  # copies: the dispatcher may add a key meanwhile
        for key, value in dict(self.counts).items():
            family.add_metric(key, value, created=created.get(key))
        yield family


# -- HTTP -------------------------------------------------------------------------------

def metrics_of(ctx) -> ConnectorMetrics | None:
    return ctx.extras.get(CONTEXT_KEY) if ctx is not None else None


def get_metrics(request, ctx):
    authorize(request, ctx)
    metrics = metrics_of(ctx)
    if metrics is None:
        raise ApiError(404, "not_found", "metrics are not collected here")
    body, content_type = metrics.exposition(request.headers.get("Accept", ""))
    return Response(body, content_type=content_type)


def routes() -> list[Route]:
    return [Route("/metrics", get_metrics)]


def counting_click2call(click2call_routes: list[Route]) -> list[Route]:
    """The click-to-call routes, each request counted by result: ``success``,
    or the error code it was answered with (a fixed set: no label from input)."""
    return [Route(r.path, _counted(r.handler), r.methods) for r in click2call_routes]


def _counted(handler):
    @wraps(handler)
    def counted(request, ctx, **args):
        metrics = metrics_of(ctx)
        try:
            result = handler(request, ctx, **args)
        except ApiError as exc:
            if metrics is not None:
                metrics.click2call_result(exc.code)
            raise
        except Exception:
            if metrics is not None:
                metrics.click2call_result("internal_error")
            raise
        if metrics is not None:
            status = getattr(result, "status_code", 200)
            metrics.click2call_result("success" if status < 400 else f"http_{status}")
        return result
    return counted
