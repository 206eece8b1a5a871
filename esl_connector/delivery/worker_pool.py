"""The delivery engine's workers: greenlets it tracks (to join or kill them at
a stop) and a limit that a reload changes while they run.

The dispatcher spawns a worker only while ``free_count()`` is positive, so
``limit`` bounds the workers at once; the pool underneath is sized for the
most workers a configuration may ask for, so ``spawn`` never blocks and a
new limit needs no change to it. Workers already running when the limit
shrinks finish as they were sent.
"""

from __future__ import annotations

from gevent.pool import Pool

MOST_WORKERS = 1000  # delivery.workers' upper bound (settings.config)


class WorkerPool(Pool):
    def __init__(self, limit: int):
        super().__init__(max(limit, MOST_WORKERS))
        self.limit = limit

    def free_count(self) -> int:
        """How many more workers may start now (0 while more run than ``limit``)."""
        return max(0, self.limit - len(self))

    def resize(self, limit: int) -> None:
        """From now on at most ``limit`` workers at once; more can start at once."""
        self.limit = limit
