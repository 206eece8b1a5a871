"""The delivery engine's workers: greenlets it tracks (to join or kill them at
a stop) and a size that a reload changes while they run.

The dispatcher spawns a worker only while ``free_count()`` is positive, so
the size is the limit; ``spawn`` itself never blocks (unlike gevent's
``Pool``, whose semaphore would have to be resized by hand). Workers already
running when the size shrinks finish as they were sent.
"""

from __future__ import annotations

from gevent.pool import Group


class WorkerPool(Group):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def free_count(self) -> int:
        """How many more workers may start now (0 while more run than ``size``)."""
        return max(0, self.size - len(self))

    def full(self) -> bool:
        return self.free_count() == 0

    def resize(self, size: int) -> None:
        """From now on at most ``size`` workers at once; more can start at once."""
        self.size = size
