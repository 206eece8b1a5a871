"""Where a click-to-call goes: the extension's domain, its state, and the
FreeSWITCH node it is registered on (docs/nodes.md).

The node is the one where the extension is registered (if on several, the
most recent registration wins); an extension registered nowhere goes to
``click2call.default_node`` if set, to the only node when there is one, and
is refused otherwise (``409 extension_unregistered``): an originate sent to
a node the phone is not on can only fail.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..records import IDLE, IN_CALL, OFFLINE, RINGING
from .server import ApiError

_STATE_ORDER = {IDLE: 0, RINGING: 1, IN_CALL: 2, OFFLINE: 3}


@dataclass(slots=True)
class Placement:
    domain: str  # for user/<extension>@<domain>
    state: str   # as stored on its node; "" when never seen
    node: str    # "" when the context knows no nodes (one client only)


def place(rows: list[tuple[str, str, str, float]], customer, extension: str, nodes: list[str],
          default_node: str = "") -> Placement:
    """``rows``: ``storage.call_params.extension_presence``; ``nodes``: the
    configured node names, first first ([] with one client and no names)."""
    rows = [r for r in rows if customer.owns(extension, r[0]) and (not nodes or r[2] in nodes)]
    configured = customer.click2call.domain
    if configured:
        domain = configured
    elif rows:
        domain = min(rows, key=lambda row: (_STATE_ORDER.get(row[1], 9), -row[3]))[0]
    else:
        domain = next(iter(customer.domains)) if len(customer.domains) == 1 else ""
    if not customer.owns(extension, domain):
        raise ApiError(404, "unknown_extension", f"extension {extension} does not belong to customer "
                                                  f"{customer.code} (or never registered in its domains)")
    here = [r for r in rows if r[0].lower() == domain.lower()]
    registered = [r for r in here if r[1] not in ("", OFFLINE)]
    if registered:
        _, state, node, _ = max(registered, key=lambda row: row[3])
        return Placement(domain, state, node)
    state = here[0][1] if here else ""
    if not nodes:
        return Placement(domain, state, "")
    node = default_node or (nodes[0] if len(nodes) == 1 else "")
    if not node:
        raise ApiError(409, "extension_unregistered",
                       f"extension {extension} is registered on no FreeSWITCH node ({', '.join(nodes)}); "
                       "retry once its phone has registered")
    return Placement(domain, next((r[1] for r in here if r[2] == node), state), node)


def client_of(ctx, node: str):
    """The Event Socket client of ``node`` (the context's only one if "")."""
    link = ctx.nodes.get(node) if node else None
    return link.client if link is not None else ctx.esl
