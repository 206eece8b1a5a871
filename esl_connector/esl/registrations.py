"""Each registration's user agent, which ``show registrations`` lacks.

FreeSWITCH's core ``registrations`` table (``show registrations as json``:
``reg_user``, ``realm``, ``token``, ``url``, ``expires``, ``network_*``,
``hostname``, ``metadata``) has no user agent; mod_sofia's own
``sip_registrations`` table has it, and ``sofia status profile <name> reg``
prints it as one block per registration:

    Call-ID:    \t0a1c9b43a7924a0d
    User:       \t102@127.0.0.1
    Contact:    \t"" <sip:102-0x55e033f0f600@127.0.0.1:5120>
    Agent:      \tbaresip v1.0.0 (x86_64/linux)
    ...

The block's ``Call-ID`` is the core row's ``token`` (mod_sofia registers
with the REGISTER's Call-ID as token), and the row's ``url`` names the
profile (``sofia/<profile>/sip:...``). ``with_user_agents`` asks each
profile that has registrations and sets ``agent`` on the rows it found;
a profile that cannot be read leaves its rows without ``agent`` (the
tracker then keeps the user agent it knew for that contact).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

log = logging.getLogger(__name__)

_PROFILE = re.compile(r"^sofia/([A-Za-z0-9_.\-]{1,64})/")


def parse_sofia_reg(text: str) -> dict[str, str]:
    """Call-ID -> user agent, from ``sofia status profile <name> reg``."""
    agents: dict[str, str] = {}
    call_id = ""
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            continue
        if name == "Call-ID":
            call_id = value.strip()
        elif name == "Agent" and call_id:
            agents[call_id] = value.strip()
    return agents


def profiles_of(rows: list[dict]) -> list[str]:
    """The sofia profiles the registration rows belong to, sorted."""
    names = {match.group(1) for row in rows if (match := _PROFILE.match(row.get("url", "")))}
    return sorted(names)


def with_user_agents(api: Callable[[str], str], rows: list[dict]) -> list[dict]:
    """``rows`` with ``agent`` set from each profile's registration list.
    ``api`` runs one api command and returns its text (may raise)."""
    agents: dict[str, str] = {}
    for profile in profiles_of(rows):
        text = api(f"sofia status profile {profile} reg")
        if text.startswith("-ERR") or text.startswith("Invalid Profile"):
            log.warning("FreeSWITCH did not list the registrations of sofia profile %s (%s): their user "
                        "agents stay as last known", profile, text.strip()[:200])
            continue
        agents.update(parse_sofia_reg(text))
    for row in rows:
        token = row.get("token", "")
        if token in agents:
            row["agent"] = agents[token]
    return rows
