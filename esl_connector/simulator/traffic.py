"""Random call traffic for demos: ``esl-connector simulate --calls-per-second N``.

``run_traffic`` starts calls at a Poisson rate over a set of extensions,
mixing what a call centre sees: answered inbound calls (most), outbound
calls, unanswered and busy inbound calls, and callers who give up. Every
extension is registered first. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable

from .model import ANSWER, BUSY, NO_ANSWER
from .pbx import Pbx

log = logging.getLogger(__name__)

# (weight, kind): the mix of calls started.
MIX = ((45, "inbound_answered"), (25, "outbound"), (12, "inbound_no_answer"),
       (10, "inbound_busy"), (8, "inbound_cancel"))


def expand_extensions(spec: str) -> list[str]:
    """``"101-150,200"`` -> ["101", ..., "150", "200"]."""
    out: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        low, _, high = part.partition("-")
        if high:
            width = len(low)
            out += [str(n).zfill(width) for n in range(int(low), int(high) + 1)]
        else:
            out.append(low)
    return out


def _phone(rng: random.Random) -> str:
    return "09" + "".join(rng.choice("0123456789") for _ in range(8))


def start_one(pbx: Pbx, rng: random.Random, extensions: list[str]):
    """Start one random call on an idle extension (None if all are busy)."""
    idle = [n for n in extensions if not pbx.extensions[n].busy_with]
    if not idle:
        return None
    ext = rng.choice(idle)
    kind = rng.choices([k for _, k in MIX], weights=[w for w, _ in MIX])[0]
    talk = round(rng.uniform(5, 120), 1)
    if kind == "outbound":
        pbx.set_far_end(number := _phone(rng), answer_after=round(rng.uniform(1, 8), 1),
                        talk_time=talk)
        return pbx.outbound_call(ext, number)
    behaviour = {"inbound_busy": BUSY, "inbound_answered": ANSWER}.get(kind, NO_ANSWER)
    pbx.configure(ext, behaviour=behaviour, answer_after=round(rng.uniform(1, 8), 1),
                  talk_time=talk)
    cancel = round(rng.uniform(2, 9), 1) if kind == "inbound_cancel" else None
    return pbx.inbound_call(caller=_phone(rng), did=next(iter(pbx.dids), "19001234"),
                            ring=[ext], cancel_after=cancel)


def run_traffic(pbx: Pbx, calls_per_second: float, extensions: Iterable[str],
                duration: float | None = None, seed: int | None = None) -> int:
    """Generate calls until ``duration`` simulated seconds passed (forever if
    None). Blocks the calling greenlet; returns the number of calls started."""
    if calls_per_second <= 0:
        raise ValueError("calls_per_second must be > 0")
    rng = random.Random(seed)
    numbers = list(extensions)
    for number in numbers:
        if number not in pbx.extensions:
            pbx.add_extension(number)
        if not pbx.extensions[number].registered:
            pbx.register(number)
    started, elapsed = 0, 0.0
    while duration is None or elapsed < duration:
        gap = rng.expovariate(calls_per_second)
        pbx.clock.sleep(gap)
        elapsed += gap
        if start_one(pbx, rng, numbers) is not None:
            started += 1
        pbx.calls[:] = [c for c in pbx.calls if not c.done]
    log.info("traffic: %d calls started in %.0f simulated seconds", started, elapsed)
    return started
