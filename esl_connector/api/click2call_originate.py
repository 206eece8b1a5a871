"""The ``originate`` command of one click-to-call, from values already checked.

Shape (the click_to_call recording's, which FreeSWITCH 1.10.12 accepted)::

    originate {origination_uuid=<callid>,crm_userfield=<userfield>,
               origination_caller_id_number=<phone>,origination_caller_id_name=<phone>,
               originate_timeout=<s>}user/<ext>@<domain> <then>

``<then>`` runs on the agent's leg once the agent answers:

* gateway route: ``&bridge({origination_caller_id_number=<cid>[,origination_caller_id_name=<name>]}``
  ``sofia/gateway/<gw>/<phone>)``
* context route: ``<phone> <dialplan> <context>``, originate's own
  "transfer the answered leg to this extension" form (mod_commands
  ``originate_function`` calls ``switch_ivr_session_transfer``); the
  configured caller ID then travels as ``effective_caller_id_number/_name``.

How FreeSWITCH reads it, and why the values here are safe:

1. ``originate`` splits its argument on spaces (``switch_separate_string``
   with ' ': single quotes group, then quotes and backslash escapes are
   removed). Only configured names and a userfield with inner spaces can
   contain a space, and those are wrapped in single quotes; no value may
   contain a quote or a backslash.
2. ``{...}`` is cut at the matching ``}`` and split on ``,``
   (``switch_event_create_brackets``); ``:_:`` anywhere splits the dial
   string into parallel originates. No value may contain ``{ } , :_:``.
3. ``&app(arg)`` ends at the first ``)``; the bridge dial string splits on
   ``, | :_:`` and reads ``[ ] < >``. The bridge target holds only the
   phone number (digits, leading +) and configured tokens.

The click2call_validation allow-lists guarantee all of that; ``_value``
checks it again so a future caller cannot bypass them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..calls.call_model import CLICK2CALL_MARKER
from ..settings.customers import CALLER_ID_NAME, CALLER_ID_NUMBER, DOMAIN_TOKEN, NAME_TOKEN, Route
from .click2call_validation import userfield_problem


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    callid: str
    extension: str
    domain: str
    phone: str
    userfield: str
    timeout: int
    route: Route


def _value(name: str, value: str) -> str:
    """``value`` as it may appear in a ``{name=value}`` block."""
    if userfield_problem(value):
        raise ValueError(f"{name}={value!r} cannot be put in an originate command")
    return f"'{value}'" if " " in value else value


def _variables(pairs: list[tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f"{name}={_value(name, value)}" for name, value in pairs) + "}"


def _check(request: OriginateRequest) -> None:
    route = request.route
    checks = [(CALLER_ID_NUMBER, request.phone), (NAME_TOKEN, request.extension),
              (NAME_TOKEN, route.dialplan), (NAME_TOKEN, route.context)]
    checks += [(NAME_TOKEN, route.gateway)] if route.gateway else []
    checks += [(DOMAIN_TOKEN, request.domain)] if request.domain else []
    checks += [(CALLER_ID_NUMBER, route.caller_id_number)] if route.caller_id_number else []
    checks += [(CALLER_ID_NAME, route.caller_id_name)] if route.caller_id_name else []
    for pattern, value in checks:
        if not pattern.fullmatch(value):
            raise ValueError(f"{value!r} cannot be put in an originate command")


def originate_command(request: OriginateRequest) -> str:
    """The ``originate`` for a click-to-call; the agent leg carries
    ``cti_click2call=true`` so the tracker knows it from any other originate."""
    _check(request)
    route = request.route
    agent = [("origination_uuid", request.callid), (CLICK2CALL_MARKER, "true")]
    if request.userfield:
        agent.append(("crm_userfield", request.userfield))
    agent += [("origination_caller_id_number", request.phone),
              ("origination_caller_id_name", request.phone),
              ("originate_timeout", str(int(request.timeout)))]
    customer = []
    if route.caller_id_number:
        customer.append(("number", route.caller_id_number))
    if route.caller_id_name:
        customer.append(("name", route.caller_id_name))
    target = f"user/{request.extension}@{request.domain}" if request.domain else f"user/{request.extension}"
    if route.gateway:
        bridge_vars = _variables([(f"origination_caller_id_{k}", v) for k, v in customer])
        then = f"&bridge({bridge_vars}sofia/gateway/{route.gateway}/{request.phone})"
    else:
        agent += [(f"effective_caller_id_{k}", v) for k, v in customer]
        then = f"{request.phone} {route.dialplan} {route.context}"
    return f"originate {_variables(agent)}{target} {then}"
