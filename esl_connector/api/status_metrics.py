"""Figures over time for the status API: calls and deliveries per minute,
delivery latency, per-endpoint delivery statistics and the Event Socket's
events per second.

Read side only: every function takes the database and the time explicitly
and returns JSON-able dicts (``status_api`` serves them; the TUI draws them).
"""

from __future__ import annotations

import math
from collections import deque

import peewee

from storage.db import connected
from storage.models import Call, DeliveryAttempt, OutboxEvent

from ..delivery.webhooks import endpoint_of as endpoint_of_url

BUCKET_S = 60
MAX_ENDPOINT_ATTEMPTS = 20000  # newest attempts of the window looked at, at most
EVENT_RATE_WINDOW_S = 60.0


class EventRate:
    """Events per second from successive readings of a monotonic counter
    (the Event Socket client's ``events_received``), over the last
    ``window`` seconds of readings. Readings are taken whenever a client
    asks (health, metrics). ``origin`` is a known first reading (the counter
    is 0 when the connector starts), so the first request gets the average
    since then; without one, the first reading gives no rate yet."""

    def __init__(self, window: float = EVENT_RATE_WINDOW_S, origin: tuple[float, int] | None = None):
        self.window = window
        self._samples: deque[tuple[float, int]] = deque([origin] if origin else [])

    def sample(self, now: float, count: int) -> float | None:
        samples = self._samples
        if samples and count < samples[-1][1]:
            samples.clear()  # the counter restarted
        if not samples or now > samples[-1][0]:
            samples.append((now, count))
        while len(samples) > 2 and samples[1][0] <= now - self.window:
            samples.popleft()
        first_at, first = samples[0]
        if now - first_at <= 0:
            return None
        return round((count - first) / (now - first_at), 3)


def _bucket(column, start: float):
    """Whole minutes since ``start`` (rows are at or after it). CAST truncates
    on SQLite and rounds on PostgreSQL: a row may land half a second early
    or late at a minute's edge."""
    return peewee.Cast(column - start, "INTEGER") / BUCKET_S


def series(db: peewee.Database, now: float, minutes: int, nodes: list[str] | None = None) -> dict:
    """Per minute, oldest first (the last bucket is the minute in progress):
    calls started (on ``nodes``, if given), delivery attempts, failed attempts (no 2xx), and the
    attempts' average and highest latency (None for a minute without any).
    A call FreeSWITCH's clock puts after ``now`` (clock skew) counts in the
    minute in progress."""
    start = (math.floor(now / BUCKET_S) - minutes + 1) * BUCKET_S
    calls = [0] * minutes
    attempts, failures = [0] * minutes, [0] * minutes
    avg_ms: list[float | None] = [None] * minutes
    max_ms: list[float | None] = [None] * minutes
    call_bucket = _bucket(Call.started_at, start)
    call_query = (Call.select(call_bucket, peewee.fn.COUNT(Call.callid))
                  .where(Call.started_at >= start).group_by(call_bucket))
    if nodes is not None:
        call_query = call_query.where(Call.node.in_(nodes))
    a = DeliveryAttempt
    attempt_bucket = _bucket(a.at, start)
    failed = peewee.Case(None, [((a.status_code >= 200) & (a.status_code < 300), 0)], 1)
    attempt_query = (a.select(attempt_bucket, peewee.fn.COUNT(a.id), peewee.fn.SUM(failed),
                              peewee.fn.AVG(a.latency_ms), peewee.fn.MAX(a.latency_ms))
                     .where(a.at >= start).group_by(attempt_bucket))
    with connected(db):
        call_rows = list(call_query.tuples().execute(db))
        attempt_rows = list(attempt_query.tuples().execute(db))
    for index, count in call_rows:
        if int(index) >= 0:
            calls[min(int(index), minutes - 1)] += count
    for index, count, failed_count, average, highest in attempt_rows:
        if 0 <= int(index) < minutes:
            i = int(index)
            attempts[i], failures[i] = count, int(failed_count or 0)
            avg_ms[i] = round(average, 1) if average is not None else None
            max_ms[i] = round(highest, 1) if highest is not None else None
    return {"generated_at": now, "bucket_s": BUCKET_S, "start": start, "minutes": minutes,
            "calls_per_minute": calls, "attempts_per_minute": attempts,
            "failures_per_minute": failures, "latency_avg_ms": avg_ms, "latency_max_ms": max_ms}


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)], 1)


def _empty_endpoint(endpoint: str) -> dict:
    return {"endpoint": endpoint, "customers": [], "requests": 0, "succeeded": 0, "failed": 0,
            "error_rate": 0.0, "latency_avg_ms": None, "latency_p95_ms": None,
            "last_at": None, "last_status_code": None, "last_error": "", "in_flight": 0,
            "last_failure": "", "last_failure_at": None}


def _count(s: dict, latencies: list[float], at: float, code: int | None, latency: float | None,
           error: str) -> None:
    """One attempt into ``s`` (oldest first)."""
    ok = code is not None and 200 <= code < 300
    s["requests"] += 1
    s["succeeded" if ok else "failed"] += 1
    if latency is not None:
        latencies.append(latency)
    s["last_at"], s["last_status_code"], s["last_error"] = at, code, error
    if not ok:  # the last failure stays shown after later successes
        s["last_failure"] = error or (f"HTTP {code}" if code is not None else "no answer")
        s["last_failure_at"] = at


def _summarise(s: dict, latencies: list[float]) -> dict:
    if s["requests"]:
        s["error_rate"] = round(s["failed"] / s["requests"], 4)
    if latencies:
        s["latency_avg_ms"] = round(sum(latencies) / len(latencies), 1)
        s["latency_p95_ms"] = _percentile(latencies, 0.95)
    return s


def endpoint_stats(db: peewee.Database, now: float, window_s: float, busy: dict[str, int]) -> list[dict]:
    """Per CRM endpoint (``scheme://host:port``), the delivery attempts of the
    last ``window_s`` seconds: requests, 2xx and others, error rate, average
    and 95th percentile latency, the last attempt's outcome, and requests in
    flight now (``busy``, from the engine); ``by_customer``: the same figures
    for each customer's requests there. Endpoints busy now but without
    attempts in the window are listed too."""
    a = DeliveryAttempt
    query = (a.select(a.url, a.at, a.status_code, a.latency_ms, a.error, OutboxEvent.customer)
             .join(OutboxEvent, on=(a.outbox == OutboxEvent.id))
             .where(a.at >= now - window_s).order_by(a.at.desc(), a.id.desc())  # the (at) index
             .limit(MAX_ENDPOINT_ATTEMPTS))
    with connected(db):
        rows = list(query.tuples().execute(db))
    stats: dict[str, dict] = {}
    shares: dict[tuple[str, str], dict] = {}
    latencies: dict[object, list[float]] = {}
    for url, at, code, latency, error, customer in reversed(rows):  # oldest first
        endpoint = endpoint_of_url(url)
        s = stats.setdefault(endpoint, _empty_endpoint(endpoint))
        _count(s, latencies.setdefault(endpoint, []), at, code, latency, error)
        share = shares.setdefault((endpoint, customer), {**_empty_endpoint(endpoint), "customer": customer})
        _count(share, latencies.setdefault((endpoint, customer), []), at, code, latency, error)
        if customer and customer not in s["customers"]:
            s["customers"].append(customer)
    for endpoint, count in busy.items():
        stats.setdefault(endpoint, _empty_endpoint(endpoint))["in_flight"] = count
    for endpoint, s in stats.items():
        _summarise(s, latencies.get(endpoint, []))
        s["customers"].sort()
        s["by_customer"] = []
    for (endpoint, customer), share in sorted(shares.items()):
        del share["customers"], share["in_flight"]
        stats[endpoint]["by_customer"].append(_summarise(share, latencies[(endpoint, customer)]))
    return sorted(stats.values(), key=lambda s: s["endpoint"])
