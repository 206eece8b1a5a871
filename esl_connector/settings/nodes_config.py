"""FreeSWITCH nodes: one ``[freeswitch]`` table (one node), or a list of
``[[freeswitch]]`` tables, one per Event Socket endpoint of a cluster.

Each node has a ``node`` name, unique in the file: calls, extensions and the
status API are keyed by it, and click-to-call is routed by it. A single
``[freeswitch]`` table is the node named ``default`` unless it names itself.
Passwords come from, in this order: ``ESL_CONNECTOR_FREESWITCH_<NODE>_PASSWORD``
(the node's name upper-cased, other characters than letters and digits as
``_``), ``ESL_CONNECTOR_FREESWITCH_PASSWORD`` (every node), the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_NODE = "default"
NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SHARED_PASSWORD_ENV = "ESL_CONNECTOR_FREESWITCH_PASSWORD"
MAX_NODES = 64


@dataclass(slots=True)
class FreeSwitchSettings:
    node: str = DEFAULT_NODE  # this node's name (letters, digits, . _ -), unique in the file
    host: str = "127.0.0.1"
    port: int = 8021
    password: str = "ClueCon"
    event_format: str = "json"
    connect_timeout: float = 5.0
    command_timeout: float = 10.0
    heartbeat_timeout: float = 40.0
    reconnect_max_delay: float = 30.0
    resync_delay: float = 1.0
    audit_interval: float = 300.0


def password_env(node: str) -> str:
    """The environment variable holding ``node``'s Event Socket password."""
    return f"ESL_CONNECTOR_FREESWITCH_{re.sub(r'[^A-Z0-9]', '_', node.upper())}_PASSWORD"


def build_nodes(raw, build: Callable[[type, object, str, list[str]], object], env,
                problems: list[str]) -> list[FreeSwitchSettings]:
    """``raw``: the ``freeswitch`` value of the file (a table, a list of
    tables, or None); ``build(cls, data, path, problems)`` makes one table a
    dataclass. Problems go to ``problems`` with their key path."""
    if raw is None:
        tables = [("freeswitch", {})]
    elif isinstance(raw, list):
        if not raw:
            problems.append("freeswitch: an empty list; give at least one [[freeswitch]] table")
        if len(raw) > MAX_NODES:
            problems.append(f"freeswitch: {len(raw)} nodes; at most {MAX_NODES}")
        tables = [(f"freeswitch[{i}]", table) for i, table in enumerate(raw)]
    else:
        tables = [("freeswitch", raw)]
    nodes = [build(FreeSwitchSettings, table, path, problems) for path, table in tables]
    for (path, table), node in zip(tables, nodes):
        if isinstance(raw, list) and isinstance(table, dict) and "node" not in table:
            problems.append(f"{path}.node: missing; each [[freeswitch]] table needs a name, "
                            'e.g. node = "pbx1" (the status API, the TUI and the logs show it)')
        for var in (password_env(node.node), SHARED_PASSWORD_ENV):
            if env.get(var):
                node.password = env[var]
                break
        validate_node(node, path, problems)
    _check_unique(tables, nodes, problems)
    return nodes or [FreeSwitchSettings()]


def _check_unique(tables, nodes: list[FreeSwitchSettings], problems: list[str]) -> None:
    seen: dict[str, str] = {}
    variables: dict[str, str] = {}
    endpoints: dict[tuple[str, int], str] = {}
    for (path, _), node in zip(tables, nodes):
        key = node.node.lower()
        duplicate = key in seen
        if duplicate:
            problems.append(f"{path}.node: {node.node!r} is already the name of {seen[key]}; "
                            "node names must be unique (case does not count)")
        seen.setdefault(key, path)
        variable = password_env(node.node)
        if variable in variables and not duplicate:
            problems.append(f"{path}.node: {node.node!r} has the same password variable ({variable}) as "
                            f"{variables[variable]}; choose names that differ in more than '.', '-' or '_'")
        variables.setdefault(variable, path)
        endpoint = (node.host.lower(), node.port)
        if endpoint in endpoints:
            problems.append(f"{path}: {node.host}:{node.port} is already {endpoints[endpoint]}'s "
                            "Event Socket; each node is a different FreeSWITCH")
        endpoints.setdefault(endpoint, path)


def validate_node(fs: FreeSwitchSettings, path: str, problems: list[str]) -> None:
    if not NODE_NAME.match(fs.node):
        problems.append(f"{path}.node: {fs.node!r} is not a node name (1-63 letters, digits, '.', '_' "
                        "or '-', starting with a letter or digit)")
    if not 0 < fs.port < 65536:
        problems.append(f"{path}.port: {fs.port} is not a TCP port")
    if not fs.host:
        problems.append(f"{path}.host: empty")
    if fs.event_format not in ("json", "plain"):
        problems.append(f"{path}.event_format: must be 'json' or 'plain', not {fs.event_format!r}")
    if not fs.password:
        problems.append(f"{path}.password: empty (set it, or {password_env(fs.node)} or "
                        f"{SHARED_PASSWORD_ENV})")
    for name in ("connect_timeout", "command_timeout", "heartbeat_timeout", "reconnect_max_delay"):
        if getattr(fs, name) <= 0:
            problems.append(f"{path}.{name}: must be > 0")
    if fs.audit_interval < 0 or fs.resync_delay < 0:
        problems.append(f"{path}.audit_interval and {path}.resync_delay: must be >= 0")
