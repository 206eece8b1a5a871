"""Built-in FreeSWITCH simulator: an Event Socket server backed by a simulated PBX.

``Simulator`` wires the two together::

    sim = Simulator(port=0, speed=50, extensions=["101", "102"])
    sim.start()
    sim.pbx.register_all()
    call = sim.pbx.inbound_call(caller="0904824242", did="19001234", ring=["101"])
    call.wait()
    sim.stop()

Owns: the PBX model (``core``: state and event emission; call flows and api
commands above it, composed in ``pbx``) and the Event Socket server (``server``
above its ``session``s, the bytes in ``wire``).
May import: ``esl_connector.esl.protocol`` (decoding only) and the standard
library, gevent; never the connector's own parts, so it stays a stand-in for
FreeSWITCH and nothing more.

See docs/simulator.md for what is modelled and how it differs from a real
FreeSWITCH 1.10.12.
"""

from __future__ import annotations

from collections.abc import Iterable

from .calls import Call
from .model import ANSWER, BUSY, NO_ANSWER, Extension, FarEnd
from .pbx import Pbx
from .scenarios import SCENARIOS, ScenarioRun
from .scenarios import run as run_scenario
from .traffic import run_traffic

__all__ = ["ANSWER", "BUSY", "NO_ANSWER", "Call", "Extension", "FarEnd", "Pbx", "SCENARIOS",
           "ScenarioRun", "Simulator", "run_scenario", "run_traffic"]


class Simulator:
    """A ``Pbx`` publishing through an ``EventSocketServer`` (built together)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str = "ClueCon",
                 speed: float = 1.0, extensions: Iterable[str] = ("101", "102", "103"),
                 heartbeat_interval: float = 20.0, **pbx_options):
        from .server import EventSocketServer  # the server is optional for PBX-only use

        self.pbx = Pbx(self._publish, extensions=extensions, speed=speed, **pbx_options)
        self.server = EventSocketServer(self.pbx, host=host, port=port, password=password,
                                        heartbeat_interval=heartbeat_interval / speed)

    def _publish(self, headers: dict, body: str = "") -> None:
        self.server.publish(headers, body)

    @property
    def address(self) -> tuple[str, int]:
        return self.server.address

    def start(self) -> Simulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.pbx.stop()
        self.server.stop()
