"""Build a real Connector (a real database: a SQLite file or a database URL;
real TCP to an Event Socket server) for integration tests, and read back what
it stored."""

from __future__ import annotations

from pathlib import Path

from esl_connector.app import Connector
from esl_connector.settings.config import settings_from_dict
from storage import queries

from esl_fake_server import wait_until


def connector_settings(database: Path | str, host: str, port: int, **sections):
    """``database``: a SQLite file path, or a database URL (``backend.url``)."""
    url = database if "://" in str(database) else f"sqlite:///{database}"
    data = {
        "freeswitch": {"host": host, "port": port, "password": "ClueCon", "resync_delay": 0.0,
                       "heartbeat_timeout": 5.0, "command_timeout": 3.0},
        "storage": {"url": url, "commit_window": 0.02},
        "http": {"port": 0},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return settings_from_dict(data, env={})


def start_connector(database: Path | str, host: str, port: int, **sections) -> Connector:
    connector = Connector(connector_settings(database, host, port, **sections)).start()
    # Events FreeSWITCH sends before the subscription are not seen: tests start
    # their calls once the connector has connected and read FreeSWITCH's state.
    wait_until(lambda: connector.client.connected and connector.resyncs, timeout=30, what="connector resynced")
    return connector


def outbox(connector: Connector, callid: str | None = None):
    """Stored CRM events, oldest first, as (event_type, params)."""
    rows = queries.list_outbox(connector.db, callid=callid, limit=10000)
    return [(row.event_type, row.params) for row in reversed(rows)]


def wait_outbox(connector: Connector, count: int, callid: str | None = None, timeout: float = 30.0):
    connector.writer.flush()
    wait_until(lambda: connector.writer.flush(1) and len(outbox(connector, callid)) >= count,
               timeout=timeout, what=f"{count} outbox rows")
    return outbox(connector, callid)
