"""What the HTTP handlers may use, built once by the app wiring.

Handlers read the database (through ``storage.queries`` and the delivery
admin layer) and talk to FreeSWITCH through the Event Socket client; they
never touch the tracker's in-memory state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# ``extras`` key of the CDR service (esl_connector.cdrs.service.CdrService):
# POST /api/v1/cdr hands it what FreeSWITCH posts, the health endpoint shows its status().
CDR_SERVICE_KEY = "cdr_service"
# ``extras`` key of the reload.Reloader (when started from a file): POST
# /api/v1/admin/reload runs it, the health endpoint shows its status().
RELOADER_KEY = "reloader"


@dataclass(slots=True)
class ApiContext:
    db: Any                      # peewee.Database (bound by storage.open_database)
    esl: Any                     # the first node's esl.client.EventSocketClient: api(), bgapi(), status()
    directory: Any               # customers.CustomerDirectory
    writer: Any = None           # storage.writer.StorageWriter (its status())
    delivery: Any = None         # the delivery engine (wake(), status()), when running
    settings: Any = None         # config.Settings
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)
    extras: dict[str, Any] = field(default_factory=dict)  # per-feature state (rate limiters, keys)
    # Every FreeSWITCH node by name, in configuration order: node_link.NodeLink
    # (.client, .fs, .info, .switchname). {} when built with one client only.
    nodes: dict[str, Any] = field(default_factory=dict)
