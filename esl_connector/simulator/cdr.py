"""CDRs as FreeSWITCH's mod_json_cdr makes them, for each simulated leg.

``cdr_document(leg, ...)`` is the JSON document of one leg in the shape of
``shared/fixtures/freeswitch/json_cdr.*.json`` (``core-uuid``, ``switchname``,
``channel_data``, ``callStats``, ``variables``, ``callflow``), with the
variables the leg's CHANNEL_HANGUP_COMPLETE carries, unencoded
(``encode-values=false``). A ``Pbx`` hands it, when the leg reaches
CS_REPORTING, to each output added with ``pbx.add_cdr_output``:

* ``CdrFiles(directory, prefix_a_leg=False)``: writes ``<uuid>.cdr.json``
  (``a_<uuid>.cdr.json`` for A-legs when ``prefix_a_leg``), like ``log-dir``;
* ``CdrPoster(url, username, password, encode="false"|"true"|"base64",
  err_dir=None)``: POSTs it to ``url?uuid=<uuid>`` with HTTP Basic, like
  ``url``/``cred``/``encode``; when the POST fails (connection refused, not
  2xx) the encoded text goes to ``err_dir`` as ``err-log-dir`` does.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from urllib.parse import quote

import gevent
import requests

from .legs import STATE_NUMBERS, Leg, variables

log = logging.getLogger(__name__)

PROFILE_KEYS = ("username", "dialplan", "caller_id_name", "ani", "aniii", "caller_id_number",
                "network_addr", "rdnis", "destination_number", "uuid", "source", "context", "chan_name")


def _profile(leg: Leg) -> dict:
    p = leg.profile
    values = {"username": p.username or "", "dialplan": p.dialplan or "", "caller_id_name": p.cid_name,
              "ani": p.ani or p.cid_num, "aniii": "", "caller_id_number": p.cid_num,
              "network_addr": p.network_addr, "rdnis": "", "destination_number": p.dest,
              "uuid": leg.uuid, "source": "mod_sofia", "context": p.context, "chan_name": leg.channel_name}
    return {key: values[key] for key in PROFILE_KEYS}


def _times(leg: Leg) -> dict:
    marks = [("created_time", leg.created), ("profile_created_time", leg.created),
             ("progress_time", leg.progress), ("progress_media_time", leg.progress_media),
             ("answered_time", leg.answered), ("bridged_time", leg.bridged), ("last_hold_time", 0),
             ("hold_accum_time", 0), ("hangup_time", leg.hungup), ("resurrect_time", 0),
             ("transfer_time", 0)]
    return {name: str(us) for name, us in marks}


def cdr_document(leg: Leg, core_uuid: str, switchname: str) -> dict:
    values = {}
    for name, value in variables(leg).items():
        values[name.removeprefix("variable_")] = ("ARRAY::" + "|:".join(value)) if isinstance(value, list) else value
    values = {"direction": leg.direction, "uuid": leg.uuid, "call_uuid": leg.call_uuid,
              "channel_name": leg.channel_name, **values}
    caller = _profile(leg)
    if leg.other is not None and leg.other_type in ("originator", "originatee"):
        other = _profile(leg.other)
        caller[leg.other_type] = {f"{leg.other_type}_caller_profiles": [other]}
    return {
        "core-uuid": core_uuid, "switchname": switchname,
        "channel_data": {"state": "CS_REPORTING", "direction": leg.direction,
                         "state_number": str(STATE_NUMBERS["CS_REPORTING"]), "flags": "", "caps": ""},
        "callStats": {}, "variables": values,
        "callflow": [{"profile_index": "1", "caller_profile": caller, "times": _times(leg)}],
    }


class CdrFiles:
    def __init__(self, directory: str, prefix_a_leg: bool = False):
        self.directory, self.prefix_a_leg = directory, prefix_a_leg
        os.makedirs(directory, exist_ok=True)

    def __call__(self, doc: dict, is_b_leg: bool) -> None:
        prefix = "a_" if self.prefix_a_leg and not is_b_leg else ""
        path = os.path.join(self.directory, f"{prefix}{doc['variables']['uuid']}.cdr.json")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(doc, separators=(",", ":")) + "\n")


class CdrPoster:
    def __init__(self, url: str, username: str = "", password: str = "", encode: str = "false",
                 err_dir: str | None = None, timeout: float = 5.0):
        if encode not in ("false", "true", "base64"):
            raise ValueError("encode must be 'false', 'true' or 'base64'")
        self.url, self.auth = url, (username, password) if username else None
        self.encode, self.err_dir, self.timeout = encode, err_dir, timeout
        self.sent = self.failed = 0

    def encoded(self, doc: dict) -> tuple[str, str]:
        """(content type, body) as mod_json_cdr posts with this ``encode``."""
        text = json.dumps(doc, separators=(",", ":"))
        if self.encode == "true":
            return "application/x-www-form-urlencoded", "cdr=" + quote(text, safe="")
        if self.encode == "base64":
            return "application/x-www-form-base64-encoded", "cdr=" + base64.b64encode(text.encode()).decode()
        return "application/json", text

    def __call__(self, doc: dict, is_b_leg: bool) -> None:
        gevent.spawn(self._post, doc)

    def _post(self, doc: dict) -> None:
        uuid = doc["variables"]["uuid"]
        content_type, body = self.encoded(doc)
        try:
            reply = requests.post(self.url, params={"uuid": uuid}, data=body.encode(), auth=self.auth,
                                  headers={"Content-Type": content_type, "User-Agent": "freeswitch-json/1.0"},
                                  timeout=self.timeout)
            if 200 <= reply.status_code < 300:
                self.sent += 1
                return
            log.warning("CDR POST for %s answered %s", uuid, reply.status_code)
        except requests.RequestException as exc:
            log.warning("CDR POST for %s failed: %s", uuid, exc)
        self.failed += 1
        if self.err_dir:
            os.makedirs(self.err_dir, exist_ok=True)
            text = body.removeprefix("cdr=")
            with open(os.path.join(self.err_dir, f"{uuid}.cdr.json"), "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
