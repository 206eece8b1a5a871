"""The events the simulated core fires by itself: HEARTBEAT, then RE_SCHEDULE.

FreeSWITCH's scheduler runs ``send_heartbeat`` every 20 s (``switch_core.c``)
and re-schedules the task right away, so each HEARTBEAT is followed by a
RE_SCHEDULE for the next run (see ``click_to_call.plain.esl``). The standard
headers come from the PBX (``base_headers``); the status fields below are
filled with FreeSWITCH-like defaults unless the PBX already gave them, or
offers a ``heartbeat_headers()`` method.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent

log = logging.getLogger(__name__)

FREESWITCH_VERSION = "1.10.12-release~64bit"
HEARTBEAT_ORIGIN = ("switch_core.c", "send_heartbeat", "95")
RE_SCHEDULE_ORIGIN = ("switch_scheduler.c", "switch_scheduler_execute", "73")


def set_origin(headers: dict[str, str], origin: tuple[str, str, str]) -> dict[str, str]:
    """Overwrite Event-Calling-File/-Function/-Line-Number where present."""
    for key, value in zip(("Event-Calling-File", "Event-Calling-Function",
                           "Event-Calling-Line-Number"), origin):
        if key in headers:
            headers[key] = value
    return headers


def uptime_text(seconds: float) -> str:
    """``0 years, 0 days, 0 hours, 13 minutes, 19 seconds, 442 milliseconds, 226 microseconds``."""
    us = int(seconds * 1_000_000)
    ms, us = divmod(us, 1000)
    secs, ms = divmod(ms, 1000)
    mins, secs = divmod(secs, 60)
    hours, mins = divmod(mins, 60)
    days, hours = divmod(hours, 24)
    years, days = divmod(days, 365)
    return (f"{years} years, {days} days, {hours} hours, {mins} minutes, {secs} seconds, "
            f"{ms} milliseconds, {us} microseconds")


def heartbeat_headers(handler, uptime: float) -> dict[str, str]:
    headers = set_origin(dict(handler.base_headers("HEARTBEAT")), HEARTBEAT_ORIGIN)
    status = getattr(handler, "heartbeat_headers", None)
    if callable(status):
        headers.update(status())
    defaults = {
        "Event-Info": "System Ready", "Up-Time": uptime_text(uptime),
        "FreeSWITCH-Version": FREESWITCH_VERSION, "Uptime-msec": str(int(uptime * 1000)),
        "Session-Count": "0", "Max-Sessions": "1000", "Session-Per-Sec": "30",
        "Session-Per-Sec-Last": "0", "Session-Per-Sec-Max": "0",
        "Session-Per-Sec-FiveMin": "0", "Session-Since-Startup": "0",
        "Session-Peak-Max": "0", "Session-Peak-FiveMin": "0", "Idle-CPU": "99.000000",
    }
    for key, value in defaults.items():
        headers.setdefault(key, value)
    return headers


def re_schedule_headers(handler, interval: float) -> dict[str, str]:
    headers = set_origin(dict(handler.base_headers("RE_SCHEDULE")), RE_SCHEDULE_ORIGIN)
    headers.update({"Task-ID": "1", "Task-Desc": "heartbeat", "Task-Group": "core",
                    "Task-Runtime": str(int(time.time() + interval))})
    return headers


def run_heartbeat(handler, publish: Callable[[dict], None], interval: float,
                  started: float) -> None:
    """Forever: wait ``interval`` seconds, publish HEARTBEAT and RE_SCHEDULE.
    A failing handler is logged and the beat goes on."""
    while True:
        gevent.sleep(interval)
        try:
            publish(heartbeat_headers(handler, time.monotonic() - started))
            publish(re_schedule_headers(handler, interval))
        except Exception:
            log.exception("heartbeat failed; trying again in %.3g s", interval)
