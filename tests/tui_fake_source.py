"""Fixed data with the status API's shapes, for the TUI's snapshot tests only
(the behaviour tests read a real connector: test_tui_live.py)."""

from __future__ import annotations

from tui.client import SourceError

NOW = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC; the snapshot tests run in UTC

HEALTH = {
    "status": "ok", "uptime_s": 11_520.4,
    "freeswitch": {"connected": True, "since": NOW - 7200, "last_error": None, "reconnects": 1,
                   "events_received": 18_345, "last_frame_at": NOW - 0.4, "core_uuid": "5e4c2a1b-7d0e-4f3a",
                   "hostname": "pbx1", "events_per_second": 3.2, "version": "1.10.12-release~64bit"},
    "database": {"ok": True, "error": ""},
    "writer": {"running": True, "queued_changes": 0, "last_error": "", "commits": 4120},
    "delivery": {"engine": {"running": True, "in_flight": 1},
                 "counts": {"pending": 1, "delivered": 830, "retrying": 2, "dead": 3, "skipped": 5},
                 "backlog": 3},
    "calls": {"active": 2},
    "versions": {"connector": "0.1.0", "python": "3.11.7", "freeswitch": "1.10.12-release~64bit"},
}

CALLS_PER_MINUTE = [1, 0, 2, 1, 3, 2, 2, 4, 3, 5, 4, 6, 5, 4, 3, 2, 3, 3, 4, 2, 1, 2, 3, 4, 5, 3, 2, 4, 3, 2, 2, 3, 1, 4, 6, 5, 3, 2, 4, 7, 8, 6, 5, 3, 2, 1, 3, 4, 5, 6, 4, 3, 5, 7, 9, 6, 4, 3, 5, 2]
METRICS = {
    "generated_at": NOW, "bucket_s": 60, "start": NOW - 59 * 60 - 20, "minutes": 60,
    "calls_per_minute": CALLS_PER_MINUTE,
    "attempts_per_minute": [2 * c + (c % 3) for c in CALLS_PER_MINUTE],
    "failures_per_minute": [1 if i in (12, 39, 40, 54) else 0 for i in range(60)],
    "latency_avg_ms": [None if c == 1 else 60.0 + 7 * c for c in CALLS_PER_MINUTE],
    "latency_max_ms": [None if c == 1 else 90.0 + 20 * c for c in CALLS_PER_MINUTE],
    "events_per_second": 3.2,
}


def _ext(number, state, callid="", ua="Yealink SIP-T46U 108.86.0.20", today=(0, 0), call=None):
    return {"customer": "acme" if number < "105" else "globex", "call": call, "calls_today": today[0],
            "answered_today": today[1], "answer_rate": round(today[1] / today[0], 4) if today[0] else None,
            "extension": number, "domain": "pbx.example.vn", "state": state, "registered": state != "offline",
            "contact": "" if state == "offline" else f"sip:{number}@10.0.0.{int(number) - 80}:5060",
            "user_agent": "" if state == "offline" else ua,
            "network_ip": "" if state == "offline" else f"10.0.0.{int(number) - 80}",
            "network_port": "" if state == "offline" else "5060", "expires_at": NOW + 300,
            "callid": callid, "updated_at": NOW - 5 * int(number[-1])}


EXTENSIONS = [
    _ext("101", "in_call", "7f3a9c1e-0b2d-4e5f-8a9b-1c2d3e4f5a6b", today=(14, 12), call={
        "callid": "7f3a9c1e-0b2d-4e5f-8a9b-1c2d3e4f5a6b", "direction": "click2call", "state": "active",
        "phone": "0911222333", "started_at": NOW - 95, "answered_at": NOW - 89}),
    _ext("102", "ringing", "c41d2e7a-93b0-4c1e-a2f3-5b6c7d8e9f01", today=(9, 6), call={
        "callid": "c41d2e7a-93b0-4c1e-a2f3-5b6c7d8e9f01", "direction": "inbound", "state": "ringing",
        "phone": "0904824242", "started_at": NOW - 8, "answered_at": 0.0}),
    _ext("103", "idle", ua="Zoiper rv2.10.20", today=(21, 20)), _ext("104", "idle", today=(3, 1)),
    _ext("105", "offline"), _ext("106", "idle", ua="MicroSIP/3.21.3", today=(7, 7))]


def _call(callid, started, state, direction, phone, ext, status="", duration=0, billsec=0, userfield=""):
    ended = state == "ended"
    return {"callid": callid, "node": "5e4c2a1b", "direction": direction, "state": state, "phone": phone,
            "extension": ext, "domain": "pbx.example.vn", "extensions": [ext], "started_at": started,
            "answered_at": started + 6 if billsec or state == "active" else 0.0,
            "ended_at": started + duration if ended else 0.0, "calldate": "", "status": status,
            "hangup_cause": "NORMAL_CLEARING" if ended else "", "duration": duration, "billsec": billsec,
            "recording": f"/var/lib/freeswitch/recordings/{callid}.wav" if billsec else "",
            "recordings": [], "userfield": userfield, "params": {},
            "legs": [callid, f"{callid[:8]}-b-leg-{ext}"] if billsec or state == "active" else [callid], "created_at": started,
            "updated_at": started}


CALLS = [
    _call("c41d2e7a-93b0-4c1e-a2f3-5b6c7d8e9f01", NOW - 8, "ringing", "inbound", "0904824242", "102"),
    _call("7f3a9c1e-0b2d-4e5f-8a9b-1c2d3e4f5a6b", NOW - 95, "active", "click2call", "0911222333", "101",
          userfield="ORDER-1042"),
    _call("2b9c1f5e-6a0e-4c1b-9a43-8f0b5d0b7c11", NOW - 400, "ended", "inbound", "0987654321", "103",
          "ANSWERED", 146, 131),
    _call("91aa0c3d-2f4e-4a5b-8c6d-7e8f9a0b1c2d", NOW - 720, "ended", "outbound", "0283334444", "104",
          "NO ANSWER", 30),
    _call("5d6e7f80-1a2b-4c3d-9e8f-0a1b2c3d4e5f", NOW - 1300, "ended", "inbound", "0909090909", "106",
          "BUSY", 4),
]


def _attempt(aid, at, code, latency, url_event, error="", request=None):
    return {"id": aid, "at": at, "status_code": code, "latency_ms": latency, "error": error,
            "url": f"https://crm.acme.vn/wsapi/acme/{url_event}?secret=***&phone=0987654321&extension=103",
            "response_excerpt": '{"status":"success"}' if code == 200 else '{"status":"error"}',
            "request": request}


def _row(rid, event_type, callid, status, customer, attempts, created, error="", ext="103"):
    return {"id": rid, "event_id": f"9f1c{rid:04d}ab", "event_type": event_type, "callid": callid,
            "extension": ext, "domain": "pbx.example.vn", "params": {"phone": "0987654321", "extension": ext},
            "occurred_at": created, "created_at": created, "status": status, "attempts": attempts,
            "next_attempt_at": created + 300 if status == "retrying" else created,
            "last_error": error, "delivered_at": created + 1 if status == "delivered" else None,
            "customer": customer, "replayed_at": 0.0, "finished_at": None,
            "endpoint": "" if status in ("pending", "skipped") else
            ("https://crm.acme.vn:443" if customer == "acme" else "https://hooks.globex.io:443")}


ANSWERED = CALLS[2]["callid"]
DELIVERIES = [
    _row(1207, "incoming_call", CALLS[0]["callid"], "pending", "acme", 0, NOW - 8, ext="102"),
    _row(1206, "call_answered", ANSWERED, "retrying", "acme", 2, NOW - 254, "HTTP 503 from crm.acme.vn"),
    _row(1205, "outgoing_call", CALLS[1]["callid"], "delivered", "globex", 1, NOW - 95, ext="101"),
    _row(1204, "call_answered", CALLS[3]["callid"], "dead", "globex", 1, NOW - 690,
         "permanent failure: HTTP 400 from hooks.globex.io", ext="104"),
    _row(1203, "incoming_call", ANSWERED, "delivered", "acme", 1, NOW - 400),
    _row(1202, "incoming_call", "0c0c0c0c-1111-2222-3333-444455556666", "skipped", "", 0, NOW - 900,
         "no customer owns extension 199@pbx.example.vn", ext="199"),
]
REQUEST = {"method": "POST", "url": "https://crm.acme.vn/wsapi/acme/call_answered?secret=***",
           "headers": {"User-Agent": "esl-connector/0.1.0", "Accept-Encoding": "gzip, deflate",
                       "Accept": "*/*", "Connection": "keep-alive", "X-Event-Id": "9f1c1206ab",
                       "Content-Type": "application/json", "Authorization": "Bearer ***",
                       "Content-Length": "137"},
           "body": '{"callid":"2b9c1f5e-6a0e-4c1b-9a43-8f0b5d0b7c11","phone":"0987654321","extension":"103",'
                   '"status":"ANSWERED","duration":146,"billsec":131}', "body_bytes": 137, "truncated": False}
TIMELINE = {"call": CALLS[2], "events": [
    {**DELIVERIES[4], "attempts": [_attempt(3301, NOW - 399.8, 200, 84.2, "incoming_call")]},  # before v5: no request
    {**DELIVERIES[1], "attempts": [_attempt(3302, NOW - 253.9, 503, 120.5, "call_answered",
                                            request=REQUEST),
                                   _attempt(3310, NOW - 248.6, None, 5002.0, "call_answered", "read timeout",
                                            request=REQUEST)]}]}


def _stats(customer, counts, oldest=None, last=None, endpoint=None):
    stats = {"customer": customer, "counts": {"pending": 0, "delivered": 0, "retrying": 0, "dead": 0,
                                              "skipped": 0, "expired": 0, **counts},
             "backlog": counts.get("pending", 0) + counts.get("retrying", 0),
             "oldest_pending_at": NOW - oldest if oldest else None, "oldest_pending_age_s": oldest,
             "last_delivered_at": NOW - last if last else None}
    return {**stats, "endpoint": endpoint} if endpoint is not None else stats


CUSTOMER_STATS = [
    {**_stats("acme", {"pending": 1, "delivered": 512, "retrying": 2}, 254.0, 12), "endpoints": [
        _stats("acme", {"delivered": 380, "retrying": 2}, 254.0, 40, "https://crm.acme.vn:443"),
        _stats("acme", {"pending": 1, "delivered": 132}, 8.0, 12, "https://logs.acme.vn:443")]},
    {**_stats("globex", {"delivered": 318, "dead": 3}, None, 95), "endpoints": [
        _stats("globex", {"delivered": 318, "dead": 3}, None, 95, "https://hooks.globex.io:443")]},
    {**_stats("", {"skipped": 5}), "endpoints": [_stats("", {"skipped": 5}, endpoint="")]},
]
ENDPOINTS = [
    {"endpoint": "https://crm.acme.vn:443", "customers": ["acme"], "requests": 214, "succeeded": 209, "failed": 5,
     "error_rate": 0.0234, "latency_avg_ms": 91.4, "latency_p95_ms": 240.8, "last_at": NOW - 12,
     "last_status_code": 200, "last_error": "", "in_flight": 1, "last_failure": "read timeout",
     "last_failure_at": NOW - 248.6},
    {"endpoint": "https://logs.acme.vn:443", "customers": ["acme"], "requests": 61, "succeeded": 61, "failed": 0,
     "error_rate": 0.0, "latency_avg_ms": 58.2, "latency_p95_ms": 122.4, "last_at": NOW - 12,
     "last_status_code": 200, "last_error": "", "in_flight": 0, "last_failure": "", "last_failure_at": None},
    {"endpoint": "https://hooks.globex.io:443", "customers": ["globex"], "requests": 88, "succeeded": 70,
     "failed": 18, "error_rate": 0.2045, "latency_avg_ms": 143.0, "latency_p95_ms": 611.2, "last_at": NOW - 95,
     "last_status_code": 400, "last_error": "", "in_flight": 0, "last_failure": "HTTP 400",
     "last_failure_at": NOW - 95},
]


for _endpoint in ENDPOINTS:  # one customer per endpoint here: its share is the whole
    _endpoint["by_customer"] = [{k: v for k, v in _endpoint.items() if k not in ("customers", "in_flight")}
                                | {"customer": c} for c in _endpoint["customers"]]


class FakeSource:
    """The ``tui.client.DataSource`` methods, answering the fixed data above."""

    url = "http://127.0.0.1:8080"

    async def health(self):
        return HEALTH

    async def metrics(self, minutes=30):
        return METRICS

    async def extensions(self):
        return EXTENSIONS

    async def calls(self, active=None, limit=100):
        return [c for c in CALLS if active is None or (c["state"] != "ended") == active][:limit]

    async def call(self, callid):
        return TIMELINE

    async def deliveries(self, status=None, limit=100):
        return [d for d in DELIVERIES if status in (None, d["status"])][:limit]

    async def delivery(self, key):
        attempts = {e["id"]: e["attempts"] for e in TIMELINE["events"]}
        row = next((d for d in DELIVERIES if str(d["id"]) == str(key)), DELIVERIES[1])
        return {**row, "attempts": attempts.get(row["id"], []), "requests": [REQUEST]}

    async def delivery_stats(self):
        return CUSTOMER_STATS

    async def endpoint_stats(self):
        return ENDPOINTS

    async def retry(self, key):
        return {**DELIVERIES[1], "status": "pending", "attempts": 0}

    async def retry_dead(self, customer):
        return 3

    async def close(self):
        pass


class UnreachableSource(FakeSource):
    """Every request fails as with nothing listening on the port."""

    async def _fail(self, *args, **kwargs):
        raise SourceError(f"cannot reach the connector at {self.url}: connection refused")

    health = metrics = extensions = calls = call = deliveries = delivery = _fail
    delivery_stats = endpoint_stats = retry = retry_dead = _fail
