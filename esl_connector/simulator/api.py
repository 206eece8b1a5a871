"""Answers to ``api`` / ``bgapi`` commands, with FreeSWITCH 1.10.12's exact body text.

Bodies are copied from api_responses.*.esl: ``-ERR <cmd> Command not found!\\n``,
``-ERR No such channel!\\n``, ``{"row_count": 0}`` (with a space) for an empty
``show channels``, rows without spaces otherwise, and so on.
"""

from __future__ import annotations

import json
import time

from .core import PbxCore
from .legs import Leg, variables
from .originate import ClickToCall, OriginateError, parse_originate

VERSION = "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"


def dispatch(pbx: PbxCore, command: str, args: str) -> str:
    if " " in command and not args:
        command, _, args = command.partition(" ")
    handler = COMMANDS.get(command)
    if handler is None:
        return f"-ERR {command} Command not found!\n"
    return handler(pbx, args)


def status(pbx: PbxCore, args: str) -> str:
    up = max(0.0, pbx.clock.now() - pbx.started_at)
    days, rest = divmod(int(up), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    frac = int((up % 1) * 1_000_000)
    live = len(pbx.channels)
    return (f"UP 0 years, {days} days, {hours} hours, {minutes} minutes, {seconds} seconds, "
            f"{frac // 1000} milliseconds, {frac % 1000} microseconds\n"
            "FreeSWITCH (Version 1.10.12-release  64bit) is ready\n"
            f"{pbx.sessions_since_startup} session(s) since startup\n"
            f"{live} session(s) - peak {pbx.peak_sessions}, last 5min {pbx.peak_sessions} \n"
            f"0 session(s) per Sec out of max 30, peak {pbx.peak_sessions}, last 5min {pbx.peak_sessions} \n"
            "1000 session(s) max\nmin idle cpu 0.00/99.30\nCurrent Stack Size/Max 240K/8192K\n")


def version(pbx: PbxCore, args: str) -> str:
    return VERSION


def _stamp(us: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(us // 1_000_000))


def channel_row(leg: Leg, pbx: PbxCore) -> dict[str, str]:
    p, app = leg.profile, str(leg.vars.get("current_application", ""))
    codec = leg.codec or ("", "", "")
    return {
        "uuid": leg.uuid, "direction": leg.direction, "created": _stamp(leg.created),
        "created_epoch": str(leg.created // 1_000_000), "name": leg.channel_name,
        "state": leg.state, "cid_name": p.cid_name, "cid_num": p.cid_num,
        "ip_addr": p.network_addr, "dest": p.dest, "application": app,
        "application_data": str(leg.vars.get("current_application_data", "")) if app else "",
        "dialplan": p.dialplan or "", "context": p.context, "read_codec": codec[0],
        "read_rate": codec[1], "read_bit_rate": codec[2], "write_codec": codec[0],
        "write_rate": codec[1], "write_bit_rate": codec[2], "secure": "", "hostname": pbx.hostname,
        "presence_id": leg.presence_id, "presence_data": "", "accountcode": "",
        "callstate": leg.call_state, "callee_name": p.callee_name or "",
        "callee_num": p.callee_num or "", "callee_direction": "", "call_uuid": leg.call_uuid,
        "sent_callee_name": "", "sent_callee_num": "", "initial_cid_name": p.cid_name,
        "initial_cid_num": p.cid_num, "initial_ip_addr": p.network_addr, "initial_dest": p.dest,
        "initial_dialplan": p.dialplan or "", "initial_context": p.context,
    }


CALL_KEYS = ("uuid direction created created_epoch name state cid_name cid_num ip_addr dest "
             "presence_id presence_data accountcode callstate callee_name callee_num "
             "callee_direction call_uuid hostname sent_callee_name sent_callee_num").split()
B_KEYS = ("uuid direction created created_epoch name state cid_name cid_num ip_addr dest "
          "presence_id presence_data accountcode callstate callee_name callee_num "
          "callee_direction sent_callee_name sent_callee_num").split()


def _rows(rows: list[dict]) -> str:
    if not rows:
        return '{"row_count": 0}\n'
    return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":")) + "\n"


def _live(pbx: PbxCore) -> list[Leg]:
    return sorted((leg for leg in pbx.channels.values() if leg.alive), key=lambda leg: leg.created)


def show(pbx: PbxCore, args: str) -> str:
    words = args.split()
    what = words[0] if words else ""
    as_json = words[-2:] == ["as", "json"]
    if what == "registrations" and as_json:
        return _rows([{
            "reg_user": e.number, "realm": e.domain, "token": e.register_call_id,
            "url": f"sofia/internal/sip:{e.contact_user}@127.0.0.1:{e.network_port}",
            "expires": str(int(e.registered_at) + e.expires), "network_ip": "127.0.0.1",
            "network_port": str(e.network_port), "network_proto": "udp",
            "hostname": pbx.hostname, "metadata": ""}
            for e in pbx.extensions.values() if e.registered])
    if what == "channels" and words[1:2] == ["count"]:
        return f"\n{len(_live(pbx))} total.\n"
    if what == "channels" and as_json:
        return _rows([channel_row(leg, pbx) for leg in _live(pbx)])
    if what == "calls" and as_json:
        rows = []
        for leg in _live(pbx):
            row = {k: v for k, v in channel_row(leg, pbx).items() if k in CALL_KEYS}
            row = {k: row[k] for k in CALL_KEYS}
            row.update({f"b_{k}": "" for k in B_KEYS}, call_created_epoch="")
            rows.append(row)
        return _rows(rows)
    return "-USAGE: show [codec|endpoint|application|api|channels|calls|registrations|...]\n"


def uuid_getvar(pbx: PbxCore, args: str) -> str:
    uuid, _, name = args.partition(" ")
    leg = pbx.channels.get(uuid)
    if leg is None:
        return "-ERR No such channel!\n"
    value = variables(leg).get("variable_" + name.strip(), "_undef_")
    return value if isinstance(value, str) else "|".join(value)


def uuid_kill(pbx: PbxCore, args: str) -> str:
    uuid, _, cause = args.partition(" ")
    leg = pbx.channels.get(uuid)
    call = next((c for c in pbx.calls if not c.done and leg in c.legs.values()), None)
    if leg is None or call is None:
        return "-ERR No such channel!\n"
    call.kill(cause.strip() or "NORMAL_CLEARING")
    return "+OK\n"


def uuid_record(pbx: PbxCore, args: str) -> str:
    parts = args.split()
    if len(parts) < 3:
        return "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>]\n"
    uuid, action, path = parts[:3]
    call = next((c for c in pbx.calls if not c.done and uuid in c.uuids.values()), None)
    if call is None or not hasattr(call, "record_api"):
        return "-ERR Cannot locate session!\n"
    if action == "start":
        call.record_api(path)
    return "+OK Success\n"


def originate(pbx: PbxCore, args: str) -> str:
    """Blocks until the agent answers (or fails), like FreeSWITCH's originate."""
    try:
        request = parse_originate(args)
    except OriginateError as exc:
        return str(exc)
    if not request.endpoint.startswith("user/"):
        return "-ERR CHAN_NOT_IMPLEMENTED\n"
    number = request.endpoint[5:].split("@", 1)[0]
    ext = pbx.extensions.get(number)
    if ext is None:
        return "-ERR SUBSCRIBER_ABSENT\n"
    if not ext.registered:
        return "-ERR USER_NOT_REGISTERED\n"
    call = pbx._start(ClickToCall(pbx, ext, request))
    return call.result.get()


def hupall(pbx: PbxCore, args: str) -> str:
    pbx.hupall(args.split()[0] if args.split() else "MANAGER_REQUEST")
    return "+OK hangup all channels with cause " + (args.split()[0] if args.split() else "MANAGER_REQUEST") + "\n"


def sofia(pbx: PbxCore, args: str) -> str:
    """``sofia status profile <name> reg``, as recorded (mod_sofia's
    ``show_reg_callback``): every registration is on ``internal``;
    ``external`` has none; another name is not a profile."""
    words = args.split()
    if words[:2] != ["status", "profile"] or len(words) < 3:
        return "-ERR Usage: sofia status profile <name> reg (simulator)\n"
    if words[2] not in ("internal", "external"):
        return "Invalid Profile!\n"
    now = pbx.clock.now_us() / 1e6
    blocks = [_reg_block(pbx, e, now) for e in pbx.extensions.values()
              if e.registered and words[2] == "internal"]
    rule = "=" * 97
    return f"\nRegistrations:\n{rule}\n" + "".join(blocks) + f"Total items returned: {len(blocks)}\n{rule}\n"


def _reg_block(pbx: PbxCore, e, now: float) -> str:
    expires = int(e.registered_at) + e.expires
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(expires))
    return (f"Call-ID:    \t{e.register_call_id}\nUser:       \t{e.number}@{e.domain}\n"
            f"Contact:    \t{e.contact}\nAgent:      \t{e.user_agent}\n"
            f"Status:     \tRegistered(UDP)(unknown) EXP({stamp}) EXPSECS({int(expires - now)})\n"
            f"Ping-Status:\tReachable\nPing-Time:\t0.00\nHost:       \t{pbx.hostname}\n"
            f"IP:         \t127.0.0.1\nPort:       \t{e.network_port}\n"
            f"Auth-User:  \t{e.number}\nAuth-Realm: \t{e.domain}\nMWI-Account:\t{e.number}@{e.domain}\n\n")


def strepoch(pbx: PbxCore, args: str) -> str:
    """The PBX clock in epoch seconds (mod_commands: no newline); with a
    date argument FreeSWITCH parses it, which the simulator does not."""
    if args.strip():
        return "-ERR strepoch with a date is not simulated\n"
    return str(pbx.clock.now_us() // 1_000_000)


COMMANDS = {
    "strepoch": strepoch, "status": status, "version": version, "show": show, "uuid_getvar": uuid_getvar,
    "uuid_kill": uuid_kill, "uuid_record": uuid_record, "originate": originate,
    "hupall": hupall, "sofia": sofia,
}
