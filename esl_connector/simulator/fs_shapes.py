"""Which channel variables FreeSWITCH 1.10.12 puts on each leg type, per phase.

Data, not logic: derived once (by hand-run tooling, not at run time) from the
recordings in fixtures/freeswitch/*.plain.esl. For each leg kind the ``create``
set is listed in full; every later phase is ``(base_phase, added, removed)``
relative to an earlier phase, as whitespace-separated variable names (without
the ``variable_`` prefix). ``legs.variable_names`` expands them.

Kinds: ``agent`` (user/<ext> rung for an inbound call), ``did`` (inbound trunk
leg), ``ext_out`` (an extension's own call, inbound to FreeSWITCH), ``gateway``
(sofia/external/<number> B-leg), ``c2c_agent`` (agent A-leg made by originate).
Phases: create, progress, answer, complete_<outcome>.

The tables are split by the leg's ``Call-Direction``: ``fs_shapes_outbound``
(``agent``, ``gateway``, ``c2c_agent``) and ``fs_shapes_inbound`` (``did``,
``ext_out``); ``SHAPES`` joins them, keyed by kind.
"""

from .fs_shapes_inbound import INBOUND_SHAPES
from .fs_shapes_outbound import OUTBOUND_SHAPES

SHAPES = {**OUTBOUND_SHAPES, **INBOUND_SHAPES}
