"""Extension presence: registrations (``sofia::register``/``unregister``/
``expire``) plus what the extension's channels are doing. Pure logic, no I/O.

``sofia::pre_register`` and ``sofia::register_attempt`` are deliberately not
used: FreeSWITCH also fires them for the digest authentication of an INVITE
(their ``from-user`` is then the dialled number), so they say nothing about
registration. An extension may register several devices (contacts); each
registration is keyed by its SIP Call-ID and the extension is offline only when
none is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..esl.protocol import Event
from ..records import IDLE, IN_CALL, OFFLINE, RINGING, ExtensionRecord
from ..settings.phones import sip_text
from .legs import Leg, event_time

REGISTER = "sofia::register"
UNREGISTER = "sofia::unregister"
EXPIRE = "sofia::expire"
REGISTRATION_SUBCLASSES = (REGISTER, UNREGISTER, EXPIRE)


@dataclass(slots=True)
class Registration:
    call_id: str
    contact: str
    user_agent: str
    network_ip: str
    network_port: str
    expires_at: float


@dataclass(slots=True)
class Presence:
    extension: str
    domain: str
    node: str = ""
    registrations: dict[str, Registration] = field(default_factory=dict)
    legs: dict[str, tuple[str, str]] = field(default_factory=dict)  # uuid -> (state, callid)
    updated_at: float = 0.0

    @property
    def state(self) -> str:
        states = {state for state, _ in self.legs.values()}
        if IN_CALL in states:
            return IN_CALL
        if RINGING in states:
            return RINGING
        return IDLE if self.registrations else OFFLINE

    def record(self) -> ExtensionRecord:
        reg = max(self.registrations.values(), key=lambda r: r.expires_at, default=None)
        callid = next((c for s, c in self.legs.values() if s == IN_CALL), "") or next(
            (c for _, c in self.legs.values()), "")
        return ExtensionRecord(
            extension=self.extension, domain=self.domain, state=self.state, node=self.node,
            contact=reg.contact if reg else "", user_agent=reg.user_agent if reg else "",
            network_ip=reg.network_ip if reg else "", network_port=reg.network_port if reg else "",
            expires_at=reg.expires_at if reg else 0.0, callid=callid, updated_at=self.updated_at,
        )


def _first(event: Event, *names: str) -> str:
    for name in names:
        value = event.get(name)
        if value:
            return value
    return ""


def leg_state(leg: Leg) -> str | None:
    """What a live leg means for its extension (None once it has hung up)."""
    if leg.hungup:
        return None
    if leg.answered or leg.direction == "inbound":
        return IN_CALL  # talking, or dialling out (the extension is busy)
    return RINGING


class ExtensionTracker:
    def __init__(self, node: str = ""):
        self.node = node  # every record carries it
        self.extensions: dict[tuple[str, str], Presence] = {}
        self.touched: set[tuple[str, str]] | None = None  # registrations since begin_snapshot

    def _presence(self, extension: str, domain: str) -> Presence:
        key = (domain, extension)
        presence = self.extensions.get(key)
        if presence is None:
            presence = self.extensions[key] = Presence(extension, domain, self.node)
        return presence

    def handle_registration(self, event: Event) -> ExtensionRecord | None:
        subclass = event.subclass
        if subclass not in REGISTRATION_SUBCLASSES:
            return None
        extension = _first(event, "username", "from-user", "user")
        domain = _first(event, "realm", "domain_name", "from-host", "host")
        if not extension:
            return None
        presence = self._presence(extension, domain)
        if self.touched is not None:
            self.touched.add((domain, extension))
        before = presence.record()
        now = event_time(event)
        call_id = event.get("call-id") or event.get("contact")
        if subclass == REGISTER and event.get("expires") != "0":
            expires = float(event.get("expires") or 0)
            presence.registrations[call_id] = Registration(
                call_id, sip_text(event.get("contact"), 512), sip_text(event.get("user-agent")),
                sip_text(event.get("network-ip"), 64), sip_text(event.get("network-port"), 16),
                now + expires if now else 0.0)
        elif call_id in presence.registrations:
            del presence.registrations[call_id]
        elif subclass != REGISTER:
            presence.registrations.clear()  # no Call-ID match: trust the event
        presence.updated_at = now or presence.updated_at
        after = presence.record()
        return after if after != before else None

    def legs_changed(self, legs: list[Leg], callid: str) -> list[ExtensionRecord]:
        """Update presence for the extension legs of one call."""
        changed: list[ExtensionRecord] = []
        for leg in legs:
            if not leg.extension:
                continue
            presence = self._presence(leg.extension, leg.domain)
            state = leg_state(leg)
            if presence.legs.get(leg.uuid) == ((state, callid) if state else None):
                continue  # as it was: nothing to update (most events of a leg)
            before = presence.state, tuple(presence.legs.items())
            if state is None:
                presence.legs.pop(leg.uuid, None)
            else:
                presence.legs[leg.uuid] = (state, callid)
            if (presence.state, tuple(presence.legs.items())) != before:
                presence.updated_at = leg.last_seen or presence.updated_at
                changed.append(presence.record())
        return changed

    def load_registrations(self, rows: list[dict], now: float,
                           keep: set[tuple[str, str]] | frozenset = frozenset()) -> list[ExtensionRecord]:
        """Replace all registrations with FreeSWITCH's ``show registrations``
        rows (after a reconnect, when unregister events may have been missed).
        Extensions in ``keep`` ((domain, extension) with registration events
        since the snapshot was asked for) keep what those events said. A row
        without ``agent`` (FreeSWITCH's list has none: ``esl.registrations``
        could not add it) keeps the user agent known for the same Call-ID or,
        after a restart (stored presence has no Call-ID), the same address."""
        seen: dict[tuple[str, str], dict[str, Registration]] = {}
        for row in rows:
            key = (row.get("realm", ""), row.get("reg_user", ""))
            if not key[1]:
                continue
            token = row.get("token") or row.get("url", "")
            ip, port = sip_text(row.get("network_ip", ""), 64), sip_text(row.get("network_port", ""), 16)
            agent = sip_text(row["agent"]) if "agent" in row else self._known_agent(key, token, (ip, port))
            reg = Registration(token, sip_text(row.get("url", ""), 512), agent, ip, port,
                               float(row.get("expires") or 0))
            seen.setdefault(key, {})[token] = reg
        changed = []
        for key in (set(seen) | set(self.extensions)) - set(keep):
            presence = self._presence(key[1], key[0])
            before = presence.record()
            presence.registrations = seen.get(key, {})
            after = presence.record()
            if after != before:
                presence.updated_at = now
                after.updated_at = now
                changed.append(after)
        return changed

    def _known_agent(self, key: tuple[str, str], token: str, address: tuple[str, str]) -> str:
        presence = self.extensions.get(key)
        known = list(presence.registrations.values()) if presence is not None else []
        same = [r for r in known if r.call_id == token] or [
            r for r in known if address[0] and (r.network_ip, r.network_port) == address]
        return same[0].user_agent if same else ""

    def restore(self, records: list[ExtensionRecord]) -> None:
        """Presence as last stored (at start-up; the resync replaces the
        registrations with FreeSWITCH's own list as soon as it connects)."""
        for record in records:
            presence = self._presence(record.extension, record.domain)
            if record.state != OFFLINE and (record.contact or record.expires_at):
                token = record.contact or "stored"
                presence.registrations = {token: Registration(
                    token, record.contact, record.user_agent, record.network_ip,
                    record.network_port, record.expires_at)}
            presence.updated_at = record.updated_at

    def records(self) -> list[ExtensionRecord]:
        return [p.record() for p in self.extensions.values()]
