"""When to ask the connector again after failures: the refresh interval at
first, then doubling up to ``ceiling`` seconds; back to every tick at the
first answer. Pure (the time is passed in), tested without Textual."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    base: float = 1.0
    ceiling: float = 30.0
    failures: int = 0
    next_at: float = 0.0

    def failed(self, now: float) -> float:
        """One more failure at ``now``; returns the wait before the next try."""
        self.failures += 1
        delay = min(self.ceiling, max(self.base, 0.5) * 2 ** (self.failures - 1))
        self.next_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures, self.next_at = 0, 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def wait(self, now: float) -> float:
        """Seconds before the next try (0: now)."""
        return max(0.0, self.next_at - now)
