"""The request a delivery WOULD send now, as an operator may see it: method,
URL, headers and body, every secret replaced by ``***``.

What each attempt really sent is stored with it (``delivery.sent_request``);
this is for a row not tried yet, or to compare with the settings of now. It is
built from the outbox row, the call's pass-through parameters and the
customer's settings of now (``webhooks.build_plan``, what the engine does),
then redacted. Read side only, no HTTP (``status`` serves it).
"""

from __future__ import annotations

import logging

from storage.db import connected
from storage.models import Call

from ..delivery.webhooks import MASK, USER_AGENT, build_plan, redact

log = logging.getLogger(__name__)

SECRET_HEADERS = {"authorization", "webhook-signature", "proxy-authorization", "cookie"}


def _call_params(db, callid: str) -> dict:
    with connected(db):
        row = Call.select(Call.params).where(Call.callid == callid).tuples().first()
    return (row[0] if row else None) or {}


def requests_for(event, db, directory, now: float, user_agent: str = "") -> list[dict]:
    """Each request of the event's plan (one per URL of its endpoint); [] when
    no customer owns the extension or its endpoint cannot be built now."""
    customer = directory.get(event.customer) if directory is not None and event.customer else None
    if customer is None and directory is not None:
        customer = directory.owner(event.extension, event.domain)
    if customer is None:
        return []
    try:
        plan = build_plan(event, customer, _call_params(db, event.callid), now=now,
                          user_agent=user_agent or USER_AGENT)
    except ValueError as exc:
        log.debug("no request for delivery %s: %s", event.id, exc)
        return []
    secrets = customer.secrets()
    return [{"method": r.method, "url": r.redacted_url,
             "headers": {k: MASK if k.lower() in SECRET_HEADERS else redact(str(v), secrets)
                         for k, v in r.headers.items()},
             "body": redact(r.body.decode("utf-8", "replace"), secrets) if r.body is not None else None}
            for r in plan.requests]
