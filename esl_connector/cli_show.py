"""The text of ``esl-connector deliveries show``: one outbox row, then each
attempt with the request as it went out (stored with the attempt: method,
URL, headers, body; every secret already ``***``) and what came back.

Plain text for a terminal or a ticket: labels in one column, header names
aligned, a JSON body indented; a long body is cut after ``body_lines``
lines with a note saying how much is left and how to see it. Control
characters a CRM or a caller could have slipped into a stored value are
shown escaped, never sent to the terminal.
"""

from __future__ import annotations

import json
import re
import time

from .delivery.admin import END_SOURCE_NOTES, DeliveryDetail, StoredAttempt

BODY_LINES = 40  # default on-screen cap of one body
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_PAD = " " * 14


def when(epoch: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


def safe(text: str) -> str:
    """``text`` with control characters (but newlines and tabs) escaped."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def delivery_lines(detail: DeliveryDetail, body_lines: int = BODY_LINES) -> list[str]:
    e = detail.event
    rows = (("id", e.id), ("event id", e.event_id), ("event", e.event_type),
            ("call", e.callid), ("extension", f"{e.extension}@{e.domain}"),
            ("customer", e.customer or "-"), ("status", e.status),
            ("attempts", e.attempts), ("created", when(e.created_at)),
            ("next attempt", when(e.next_attempt_at) if e.status in ("pending", "retrying") else "-"),
            ("delivered", when(e.delivered_at)), ("last error", e.last_error or "-"),
            ("params", json.dumps(e.params, ensure_ascii=False)))
    lines = [f"{label + ':':<14}{safe(str(value))}" for label, value in rows]
    if detail.call_end_source:
        note = END_SOURCE_NOTES.get(detail.call_end_source, "")
        lines.append(f"{'call ended:':<14}{detail.call_end_source}: {note}")
    for number, attempt in enumerate(detail.attempts, 1):
        lines += [""] + attempt_lines(number, attempt, body_lines)
    return lines


def attempt_lines(number: int, a: StoredAttempt, body_lines: int = BODY_LINES) -> list[str]:
    result = f"HTTP {a.status_code}" if a.status_code is not None else "no response"
    lines = [f"attempt {number}  {when(a.at)}  {result:<11} {a.latency_ms or 0:>8.1f} ms"]
    lines += request_lines(a, body_lines)
    if a.error:
        lines.append(f"  {'error':<12}{safe(a.error[:500])}")
    if a.response_excerpt:
        lines += _block("response", safe(a.response_excerpt[:500]).splitlines() or [""])
    return lines


def request_lines(a: StoredAttempt, body_lines: int = BODY_LINES) -> list[str]:
    request = a.request
    if request is None:
        return [f"  {'request':<12}{safe(a.url)}",
                f"{_PAD}(not stored: recorded before the connector kept each request)"]
    lines = [f"  {'request':<12}{safe(str(request.get('method', '')))} {safe(str(request.get('url', '')))}"]
    headers = request.get("headers") or {}
    width = max((len(name) for name in headers), default=0) + 1
    lines += [f"{_PAD}{safe(name) + ':':<{width}} {safe(str(value))}" for name, value in headers.items()]
    body = request.get("body")
    if body is None:
        return lines + [f"  {'body':<12}(none: the parameters are in the URL)"]
    shown = _readable(body, bool(request.get("truncated"))).splitlines() or [""]
    lines += _block("body", [safe(line) for line in shown[:body_lines or None]])
    if body_lines and len(shown) > body_lines:
        lines.append(f"{_PAD}... {len(shown) - body_lines} more lines (--body-lines 0 shows them all)")
    if request.get("truncated"):
        lines.append(f"{_PAD}(stored: the first 16 KiB of {request.get('body_bytes', 0):,} bytes)")
    return lines + [f"{_PAD}(as sent; secrets are ***)"]


def _readable(body: str, truncated: bool) -> str:
    """A JSON body indented, anything else (a form, a cut body) as stored."""
    if truncated or not body.lstrip().startswith(("{", "[")):
        return body
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:
        return body


def _block(label: str, lines: list[str]) -> list[str]:
    return [f"  {label:<12}{lines[0]}"] + [f"{_PAD}{line}" for line in lines[1:]]
