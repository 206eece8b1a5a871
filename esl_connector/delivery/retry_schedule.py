"""When to try a failed delivery again, and when to stop.

A Standard-Webhooks-like schedule: the first attempt is immediate, then
about 5 s, 5 min, 30 min, 2 h, 5 h and 10 h after each failure, then every
10 h, each delay spread by +-``jitter`` (so a CRM coming back is not hit by
every queued event in the same second). A ``Retry-After`` from the CRM only
ever lengthens the wait. The event is given up (dead letter) when the next
attempt would fall after ``origin + max_age``, ``origin`` being when the event
was created or last replayed by hand.

Pure functions of their arguments (``now`` and ``rng`` are passed in), so the
tests drive them with a fake clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

DEFAULT_DELAYS: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
DEFAULT_MAX_AGE = 3 * 24 * 3600.0
DEFAULT_JITTER = 0.2


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    delays: tuple[float, ...] = DEFAULT_DELAYS  # the last one repeats
    max_age: float = DEFAULT_MAX_AGE
    jitter: float = DEFAULT_JITTER  # fraction: 0.2 = each delay is 80 %..120 % of nominal

    def nominal_delay(self, failures: int) -> float:
        """The un-jittered wait after the ``failures``-th failed attempt (1-based)."""
        index = min(max(failures, 1), len(self.delays)) - 1
        return self.delays[index]

    def next_attempt(self, failures: int, origin: float, now: float,
                     retry_after: float | None = None,
                     rng: random.Random | None = None) -> float | None:
        """Epoch time of the next attempt after ``failures`` failed ones, or
        None when that would be past ``origin + max_age`` (give up)."""
        spread = (rng or random).uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        delay = self.nominal_delay(failures) * (1.0 + spread)
        if retry_after is not None:
            delay = max(delay, retry_after)
        at = now + delay
        if at > origin + self.max_age:
            return None
        return at

    def table(self) -> list[tuple[int, float, float]]:
        """(attempt number, nominal delay before it, nominal time since the
        first attempt) for every attempt that fits in ``max_age``: for docs."""
        rows, elapsed, attempt = [(1, 0.0, 0.0)], 0.0, 1
        while True:
            delay = self.nominal_delay(attempt)
            if elapsed + delay > self.max_age:
                return rows
            elapsed += delay
            attempt += 1
            rows.append((attempt, delay, elapsed))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds ("120")
    or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT"); None if absent or
    unreadable; never negative."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:  # RFC 9110: HTTP-dates are GMT
        return None
    return max(0.0, when.timestamp() - now)


def format_duration(seconds: float) -> str:
    """120 -> "2 min", 7200 -> "2 h", 5 -> "5 s" (for logs and docs)."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{seconds:.0f} s"
