"""The Deliveries screen's first table: one row per customer, then one per
CRM endpoint of that customer. Counts come from ``/deliveries/stats`` (its
``endpoints``), requests, errors and latency of the last hour from
``/deliveries/endpoints``. Row keys: the customer's code, and
``"<code> <endpoint>"`` for an endpoint row (``customer_of`` reads one back).
An endpoint's traffic is the customer's own share of it (``by_customer``): two
customers sharing a CRM host each see their requests only."""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text

from .formatting import ago, duration, number, percent

COLUMNS = ["Customer", "Endpoint", "Backlog", "Retrying", "Dead", "Pending", "Delivered", "Oldest due",
           "Last delivered", "Req 1h", "Errors", "Avg", "p95", "Last failure"]
ALL = "(all)"


def customer_of(key: str | None) -> str | None:
    return None if key is None else key.split(" ", 1)[0]


def rows(customers: list[dict], endpoints: list[dict], now: float) -> Iterator[tuple[str, list]]:
    traffic = {(share["customer"], e["endpoint"]): share for e in endpoints for share in e.get("by_customer") or []}
    for c in customers:
        code = c["customer"]
        mine = [traffic[code, e["endpoint"]] for e in c.get("endpoints") or [] if (code, e["endpoint"]) in traffic]
        yield code, [code or "(nobody)", ALL, *count_cells(c, now), *traffic_cells(summed(mine), now)]
        for e in c.get("endpoints") or []:
            yield (f"{code} {e['endpoint']}",
                   [code or "(nobody)", e["endpoint"] or "(none configured)", *count_cells(e, now),
                    *traffic_cells(traffic.get((code, e["endpoint"])), now)])


def count_cells(s: dict, now: float) -> list:
    counts = s.get("counts") or {}
    dead, retrying = counts.get("dead", 0), counts.get("retrying", 0)
    return [str(s.get("backlog", 0)), Text(str(retrying), style="yellow" if retrying else ""),
            Text(str(dead), style="bold red" if dead else ""), str(counts.get("pending", 0)),
            str(counts.get("delivered", 0)),
            duration(s.get("oldest_pending_age_s")) if s.get("oldest_pending_at") else "-",
            ago(s.get("last_delivered_at"), now)]


def summed(endpoints: list[dict]) -> dict | None:
    """A customer's traffic over its endpoints (p95 cannot be summed: none)."""
    if not endpoints:
        return None
    requests = sum(e.get("requests", 0) for e in endpoints)
    failed = sum(e.get("failed", 0) for e in endpoints)
    timed = [(e["latency_avg_ms"], e.get("requests", 0)) for e in endpoints if e.get("latency_avg_ms") is not None]
    weight = sum(n for _, n in timed)
    last = max(endpoints, key=lambda e: e.get("last_failure_at") or 0)
    return {"requests": requests, "error_rate": failed / requests if requests else 0.0,
            "latency_avg_ms": sum(v * n for v, n in timed) / weight if weight else None,
            "latency_p95_ms": None, "last_failure": last.get("last_failure", ""),
            "last_failure_at": last.get("last_failure_at")}


def traffic_cells(e: dict | None, now: float) -> list:
    if e is None:
        return ["0", "-", "-", "-", "-"]
    rate = e.get("error_rate") or 0.0
    failure = Text(f"{e['last_failure']} {ago(e.get('last_failure_at'), now)}", style="red") \
        if e.get("last_failure") else "-"
    return [str(e.get("requests", 0)), Text(percent(rate), style="bold red" if rate >= 0.1 else ""),
            number(e.get("latency_avg_ms"), " ms", 1), number(e.get("latency_p95_ms"), " ms", 1), failure]
