"""For ``bench_end_to_end.py --database postgresql://... --connectors 2``: a
fresh PostgreSQL database per run, and a second connector process sharing it.

The second connector delivers only: its Event Socket is the built-in simulator
with no traffic (``esl-connector simulate``), so every call is ingested once,
by the first connector, and both send the outbox's webhooks (claims).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import requests


def fresh_database(url: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database on ``url``'s PostgreSQL server (the role needs
    CREATEDB): (its URL, a function dropping it). SQLite: a path is used as is."""
    if not url.startswith("postgres"):
        return url, lambda: None
    import psycopg2
    name = f"esl_bench_{os.getpid()}_{int(time.time())}"

    def admin(sql: str) -> None:
        conn = psycopg2.connect(url)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()
    admin(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}")), lambda: admin(f'DROP DATABASE IF EXISTS "{name}" '
                                                                                  f'WITH (FORCE)')


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port}") from None
            time.sleep(0.1)


def wait_healthy(url: str, proc, log, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=5).json()["freeswitch"]["connected"]:
                return
        except (requests.RequestException, ValueError, KeyError):
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"connector not healthy; see {log}")
        time.sleep(0.1)


def start_second(run, child_class, write_config, free_port, customers: list[dict], extra: dict) -> None:
    """Start the idle simulator and the second connector ("bench-b") for ``run``
    (a bench_end_to_end.Run); sets run.second and run.second_health_url."""
    py = sys.executable
    esl_port = free_port()
    sim = child_class("idle simulator", [py, "-m", "esl_connector.cli", "simulate", "--port", str(esl_port),
                                         "--extensions", "9000"], run.tmp / "idle-sim.log", json_stdout=False)
    run.children.append(sim)
    wait_port(esl_port)
    http_port = free_port()
    config = run.tmp / "connector-b.toml"
    write_config(config, esl_port, http_port, customers,
                 {**extra, "delivery": {**extra.get("delivery", {}), "instance": "bench-b"}})
    run.second = child_class("connector b", [py, "-m", "esl_connector.cli", "run", "-c", str(config)],
                             run.tmp / "connector-b.log", json_stdout=False)
    run.children.append(run.second)
    run.second_health_url = f"http://127.0.0.1:{http_port}/api/v1/health"
    wait_healthy(run.second_health_url, run.second.proc, run.tmp / "connector-b.log")


def delivered_by(health_url: str) -> int | None:
    try:
        return requests.get(health_url, timeout=10).json()["delivery"]["engine"]["delivered"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None
