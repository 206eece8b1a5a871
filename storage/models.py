"""The tables, as the code uses them today.

Tables are created and altered only by ``storage.migrations`` (never by
``create_tables`` at start-up); a change here needs a new migration, and
``tests/test_storage_migrations.py`` fails until the two agree.

All times are epoch seconds (float, DOUBLE PRECISION on PostgreSQL); JSON
columns are TEXT so the same schema runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import peewee

from .db import database
from .fields import JSONField, MonotonicAutoField

# Outbox delivery states.
PENDING = "pending"
DELIVERED = "delivered"
RETRYING = "retrying"
DEAD = "dead"
SKIPPED = "skipped"
EXPIRED = "expired"  # a start event older than its customer's expire_after: never sent late
OUTBOX_STATUSES = (PENDING, DELIVERED, RETRYING, DEAD, SKIPPED, EXPIRED)
OUTBOX_DUE = (PENDING, RETRYING)  # rows the delivery engine still has to send


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Call(BaseModel):
    """The latest view of one call (a ``CallRecord``) plus CRM pass-through
    ``params`` (written by click-to-call, never by the call tracker)."""

    callid = peewee.CharField(primary_key=True, max_length=255)
    node = peewee.CharField(default="")
    direction = peewee.CharField(default="", max_length=32)
    state = peewee.CharField(default="", max_length=32)
    phone = peewee.CharField(default="")
    extension = peewee.CharField(default="")
    domain = peewee.CharField(default="")
    extensions = JSONField(default=list)
    started_at = peewee.DoubleField(default=0.0)
    answered_at = peewee.DoubleField(default=0.0)
    ended_at = peewee.DoubleField(default=0.0)
    calldate = peewee.CharField(default="", max_length=32)
    status = peewee.CharField(default="", max_length=32)
    hangup_cause = peewee.CharField(default="", max_length=64)
    duration = peewee.IntegerField(default=0)
    billsec = peewee.IntegerField(default=0)
    recording = peewee.TextField(default="")
    recordings = JSONField(default=list)
    userfield = peewee.TextField(default="")
    legs = JSONField(default=list)
    params = JSONField(default=dict)
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField(index=True)
    # v3: how its end became known ("" = from its events, lost_track, cdr), and
    # the call tracker's state while it is live ({} once ended), taken up at start.
    end_source = peewee.CharField(default="", max_length=16)
    tracker_state = JSONField(default=dict)

    class Meta:
        table_name = "calls"
        indexes = (
            (("state", "started_at"), False),  # active calls, newest first
            (("started_at",), False),  # recent calls, retention
            (("extension", "started_at"), False),
        )


class Extension(BaseModel):
    """Presence of one extension (an ``ExtensionRecord``) on one FreeSWITCH
    node: the same number on two nodes is two rows."""

    id = peewee.AutoField()
    node = peewee.CharField(default="", max_length=64)  # v6
    domain = peewee.CharField(default="")
    extension = peewee.CharField()
    state = peewee.CharField(default="", max_length=32)
    contact = peewee.TextField(default="")
    user_agent = peewee.TextField(default="")
    network_ip = peewee.CharField(default="", max_length=64)
    network_port = peewee.CharField(default="", max_length=16)
    expires_at = peewee.DoubleField(default=0.0)
    callid = peewee.CharField(default="", max_length=255)
    updated_at = peewee.DoubleField(default=0.0)

    class Meta:
        table_name = "extensions"
        indexes = ((("node", "domain", "extension"), True),)


class OutboxEvent(BaseModel):
    """One CRM event to deliver, committed with the call change that caused it.

    ``id`` gives the order; ``event_id`` (uuid4 hex) is stable across retries
    and is what the CRM sees as the webhook id.
    """

    id = MonotonicAutoField()
    event_id = peewee.CharField(unique=True, max_length=32)
    event_type = peewee.CharField(max_length=32)
    callid = peewee.CharField(index=True, max_length=255)
    extension = peewee.CharField(default="")
    domain = peewee.CharField(default="")
    params = JSONField(default=dict)
    occurred_at = peewee.DoubleField()
    created_at = peewee.DoubleField()
    status = peewee.CharField(default=PENDING, max_length=16)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DoubleField(default=0.0)
    last_error = peewee.TextField(default="")
    delivered_at = peewee.DoubleField(null=True)
    # v2, for the delivery engine: the customer code the event was last planned
    # for ("" until then, or when no customer owns the extension), the time of
    # the last manual replay (the retry age counts from there), and when the
    # row left pending/retrying (delivered, dead or skipped; for retention).
    customer = peewee.CharField(default="", max_length=64)
    replayed_at = peewee.DoubleField(default=0.0)
    finished_at = peewee.DoubleField(null=True)
    # v5: the CRM endpoint(s) (scheme://host:port, space separated) the row is
    # delivered to, set when it is planned ("" before); per-endpoint counts.
    endpoint = peewee.TextField(default="")
    # v7: the delivery instance holding the row while it is read or in flight,
    # and until when (epoch seconds; 0 = nobody); see esl_connector.delivery.claims.
    claimed_by = peewee.TextField(default="")
    claim_until = peewee.DoubleField(default=0.0)

    class Meta:
        table_name = "outbox"
        indexes = ((("status", "next_attempt_at"), False),
                   (("status", "id", "customer"), False),  # v8: pending rows in id order
                   (("customer", "status", "id"), False))  # v9


class DeliveryAttempt(BaseModel):
    """One HTTP attempt to deliver an outbox row (written by the delivery engine)."""

    id = MonotonicAutoField()
    outbox = peewee.ForeignKeyField(OutboxEvent, backref="attempts_log", on_delete="CASCADE")
    at = peewee.DoubleField()
    url = peewee.TextField(default="")  # secret redacted
    status_code = peewee.IntegerField(null=True)
    latency_ms = peewee.DoubleField(null=True)
    error = peewee.TextField(default="")
    response_excerpt = peewee.TextField(default="")
    # v5: the request as sent: {"method", "url", "headers", "body", "body_bytes",
    # "truncated"}, secrets as ***; NULL for attempts recorded before v5.
    request = JSONField(null=True)

    class Meta:
        table_name = "delivery_attempts"
        indexes = ((("at",), False),)  # v9: the status API's recent windows


class SchemaVersion(BaseModel):
    """One row per applied migration."""

    version = peewee.IntegerField(primary_key=True)
    name = peewee.CharField()
    applied_at = peewee.DoubleField()

    class Meta:
        table_name = "schema_version"


class CdrLeg(BaseModel):
    """v3: one leg's CDR as received (``esl_connector.calls.cdr.CdrLeg`` in
    ``leg``): the same CDR twice is processed once; ``pending`` legs wait for
    their call's other legs, across a restart too."""

    uuid = peewee.CharField(primary_key=True, max_length=128)
    callid = peewee.CharField(index=True, max_length=128)
    source = peewee.CharField(default="", max_length=16)  # http | file
    state = peewee.CharField(default="pending", max_length=16)  # pending | done
    leg = JSONField(default=dict)
    received_at = peewee.DoubleField()
    done_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "cdr_legs"
        indexes = ((("state", "received_at"), False),)


class CdrFile(BaseModel):
    """v3: a CDR file read from mod_json_cdr's directories, never read twice."""

    path = peewee.CharField(primary_key=True, max_length=1024)
    size = peewee.BigIntegerField(default=0)
    mtime = peewee.DoubleField(default=0.0)
    outcome = peewee.CharField(default="", max_length=16)  # accepted | duplicate | rejected
    error = peewee.TextField(default="")
    processed_at = peewee.DoubleField()

    class Meta:
        table_name = "cdr_files"


class DeliveryInstance(BaseModel):
    """v7: a delivery engine alive (its ``delivery.instance``), renewed with its
    claims; several alive = several connectors share the outbox (``delivery.claims``)."""

    instance = peewee.CharField(primary_key=True, max_length=255)
    seen_until = peewee.DoubleField()

    class Meta:
        table_name = "delivery_instances"


class OutboxTally(BaseModel):
    """v9: outbox rows per status, customer, endpoint and event type (and
    extension and domain while no customer is known), ``SUM(delta)`` by key;
    ``last_at``: the latest ``delivered_at`` added. Kept by triggers on
    ``outbox`` (``storage.schema_v9``), never written by the code."""

    status = peewee.CharField(max_length=16)
    customer = peewee.CharField(max_length=64)
    endpoint = peewee.TextField()
    event_type = peewee.CharField(max_length=32)
    extension = peewee.CharField()
    domain = peewee.CharField()
    delta = peewee.BigIntegerField()
    last_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "outbox_tally"
        primary_key = False


MODELS = (Call, Extension, OutboxEvent, DeliveryAttempt, SchemaVersion, CdrLeg, CdrFile, DeliveryInstance,
          OutboxTally)
