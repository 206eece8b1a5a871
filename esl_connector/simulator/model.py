"""Plain data of the simulated PBX: extensions, the far end, the clock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import gevent

ANSWER = "answer"
BUSY = "busy"
NO_ANSWER = "no_answer"
BEHAVIOURS = (ANSWER, BUSY, NO_ANSWER)


@dataclass
class Extension:
    """A directory user (101) and how its phone behaves when rung.

    ``baresip_contact`` reproduces the recordings' baresip phones, which
    register ``sip:101-0x...@ip:port`` so the agent leg is named
    ``sofia/internal/101-0x...@127.0.0.1:5110``; turn it off for desk-phone
    style ``sofia/internal/101@127.0.0.1:5110``."""

    number: str
    domain: str = "127.0.0.1"
    registered: bool = False
    behaviour: str = ANSWER
    answer_after: float = 2.5
    reject_after: float = 2.0
    talk_time: float = 3.0
    user_agent: str = "baresip v1.0.0 (x86_64/linux)"
    network_port: int = 0
    baresip_contact: bool = True
    contact_tag: str = ""
    register_call_id: str = ""
    expires: int = 600
    registered_at: float = 0.0
    busy_with: set[str] = field(default_factory=set)

    @property
    def contact_user(self) -> str:
        return f"{self.number}-{self.contact_tag}" if self.baresip_contact else self.number

    @property
    def contact(self) -> str:
        return f'"" <sip:{self.contact_user}@127.0.0.1:{self.network_port}>'


@dataclass
class FarEnd:
    """What the external party does when the gateway calls it."""

    outcome: str = ANSWER  # answer | busy | no_answer
    answer_after: float = 1.0
    talk_time: float = 3.0
    reject_after: float = 1.0


class SimClock:
    """Simulated time: runs ``speed`` times faster than real time.

    ``now_us()`` is the simulated epoch in µs; ``sleep(s)`` waits ``s``
    simulated seconds (``s / speed`` real seconds) in a gevent-friendly way."""

    def __init__(self, speed: float = 1.0, start: float | None = None):
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._start_sim = time.time() if start is None else start
        self._start_real = time.monotonic()

    def now(self) -> float:
        return self._start_sim + (time.monotonic() - self._start_real) * self.speed

    def now_us(self) -> int:
        return int(self.now() * 1_000_000)

    def sleep(self, seconds: float) -> None:
        gevent.sleep(max(0.0, seconds) / self.speed)

    def real(self, seconds: float) -> float:
        return max(0.0, seconds) / self.speed
