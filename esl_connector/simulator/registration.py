"""sofia::register / unregister / expire, with the pre_register noise FreeSWITCH adds.

Every REGISTER (and every INVITE that needs digest auth) first fires
``sofia::pre_register`` and ``sofia::register_attempt``; only then comes
``sofia::register`` or, for ``Expires: 0``, ``PRESENCE_IN`` +
``sofia::unregister``. ``sofia::expire`` (a registration that timed out) has
the shorter header set of ``sofia_reg_del_callback``.
"""

from __future__ import annotations

import secrets

from .core import PbxCore
from .model import Extension

LINE = {"sofia::pre_register": "1810", "sofia::register_attempt": "1606",
        "sofia::register": "2059", "sofia::unregister": "2213", "sofia::expire": "1212"}


def directory_vars(pbx: PbxCore, ext: Extension) -> dict[str, str]:
    """The directory user's params and variables, as sofia copies them."""
    n = ext.number
    return {
        "sip_number_alias": n, "sip_auth_username": n, "sip_auth_realm": ext.domain,
        "number_alias": n, "user_name": n, "domain_name": ext.domain,
        "record_stereo": "true", "default_gateway": "example.com", "default_areacode": "918",
        "transfer_fallback_extension": "operator", "toll_allow": "domestic,international,local",
        "accountcode": n, "user_context": "default", "effective_caller_id_name": f"Agent {n}",
        "effective_caller_id_number": n, "outbound_caller_id_name": "FSLab",
        "outbound_caller_id_number": pbx.outbound_caller_id, "callgroup": "agents",
    }


def _custom(pbx: PbxCore, subclass: str, headers: dict, ts: int | None = None) -> None:
    line = {"Event-Calling-Line-Number": LINE[subclass]}  # replaces the base value in place
    pbx.fire("CUSTOM", {**line, **headers}, subclass=subclass, ts_us=ts)


def auth_noise(pbx: PbxCore, ext: Extension, from_user: str, expires: int, call_id: str,
               ts: int | None = None) -> None:
    """pre_register + register_attempt (REGISTER, or an INVITE's digest auth:
    then ``from_user`` is the dialled number and ``expires`` 300)."""
    common = {
        "profile-name": "internal", "from-user": from_user, "from-host": ext.domain,
        "contact": ext.contact, "call-id": call_id, "rpid": "unknown",
        "status": "Registered(UDP)", "expires": str(expires), "to-user": ext.number,
        "to-host": ext.domain, "network-ip": "127.0.0.1", "network-port": str(ext.network_port),
    }
    _custom(pbx, "sofia::pre_register", {**common, "user-agent": ext.user_agent}, ts)
    _custom(pbx, "sofia::register_attempt", {
        **common, "username": ext.number, "realm": ext.domain, "user-agent": ext.user_agent,
        "auth-result": "RENEWED"}, ts)


def register(pbx: PbxCore, ext: Extension, expires: int = 600) -> None:
    ext.register_call_id = ext.register_call_id or secrets.token_hex(8)
    auth_noise(pbx, ext, ext.number, expires, ext.register_call_id)
    _custom(pbx, "sofia::register", {
        "profile-name": "internal", "from-user": ext.number, "from-host": ext.domain,
        "presence-hosts": f"{ext.domain},{ext.domain}", "contact": ext.contact,
        "call-id": ext.register_call_id, "rpid": "unknown", "status": "Registered(UDP)",
        "expires": str(expires), "to-user": ext.number, "to-host": ext.domain,
        "network-ip": "127.0.0.1", "network-port": str(ext.network_port),
        "username": ext.number, "realm": ext.domain, "user-agent": ext.user_agent,
        **directory_vars(pbx, ext)})
    ext.registered, ext.expires, ext.registered_at = True, expires, pbx.clock.now()


def _presence_unregistered(pbx: PbxCore, ext: Extension) -> None:
    pbx.fire("PRESENCE_IN", {
        "proto": "sip", "rpid": "unknown", "login": "sip:mod_sofia@127.0.0.1:5060",
        "user-agent": ext.user_agent, "from": f"{ext.number}@{ext.domain}",
        "status": "Unregistered", "presence-source": "register", "event_type": "presence"})


def unregister(pbx: PbxCore, ext: Extension) -> None:
    """The phone sends REGISTER with Expires: 0."""
    call_id = ext.register_call_id or secrets.token_hex(8)
    auth_noise(pbx, ext, ext.number, 0, call_id)
    _presence_unregistered(pbx, ext)
    _custom(pbx, "sofia::unregister", {
        "profile-name": "internal", "username": ext.number, "from-user": ext.number,
        "from-host": ext.domain, "contact": ext.contact, "call-id": call_id, "rpid": "unknown",
        "realm": ext.domain, "network-ip": "127.0.0.1", "network-port": str(ext.network_port),
        "user-agent": ext.user_agent, "expires": "0", **directory_vars(pbx, ext)})
    ext.registered, ext.register_call_id = False, ""


def expire(pbx: PbxCore, ext: Extension) -> None:
    """The registration timed out (the phone vanished): ``sofia::expire`` then
    PRESENCE_IN, with the header set of ``sofia_reg_del_callback`` (1.10)."""
    _custom(pbx, "sofia::expire", {
        "profile-name": "internal", "call-id": ext.register_call_id or secrets.token_hex(8),
        "user": ext.number, "host": ext.domain, "contact": ext.contact,
        "expires": str(ext.expires), "user-agent": ext.user_agent, "realm": ext.domain})
    _presence_unregistered(pbx, ext)
    ext.registered, ext.register_call_id = False, ""
