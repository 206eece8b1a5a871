"""Schema version 1, frozen: the tables exactly as migration 1 creates them.

Do not edit. ``storage.models`` evolves through later migrations; these
copies stay as they were so that a fresh database goes through the same steps
as an old one.
"""

from __future__ import annotations

import peewee

from .fields import JSONField, MonotonicAutoField


class BaseModel(peewee.Model):
    class Meta:
        database = None  # bound to the migrated database by bind_ctx()
        legacy_table_names = False


class Call(BaseModel):
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

    class Meta:
        table_name = "calls"
        indexes = (
            (("state", "started_at"), False),  # active calls, newest first
            (("started_at",), False),  # recent calls, retention
            (("extension", "started_at"), False),
        )


class Extension(BaseModel):
    id = peewee.AutoField()
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
        indexes = ((("domain", "extension"), True),)


class OutboxEvent(BaseModel):
    id = MonotonicAutoField()
    event_id = peewee.CharField(unique=True, max_length=32)
    event_type = peewee.CharField(max_length=32)
    callid = peewee.CharField(index=True, max_length=255)
    extension = peewee.CharField(default="")
    domain = peewee.CharField(default="")
    params = JSONField(default=dict)
    occurred_at = peewee.DoubleField()
    created_at = peewee.DoubleField()
    status = peewee.CharField(default="pending", max_length=16)
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DoubleField(default=0.0)
    last_error = peewee.TextField(default="")
    delivered_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "outbox"
        indexes = ((("status", "next_attempt_at"), False),)


class DeliveryAttempt(BaseModel):
    id = MonotonicAutoField()
    outbox = peewee.ForeignKeyField(OutboxEvent, backref="attempts_log", on_delete="CASCADE")
    at = peewee.DoubleField()
    url = peewee.TextField(default="")  # secret redacted
    status_code = peewee.IntegerField(null=True)
    latency_ms = peewee.DoubleField(null=True)
    error = peewee.TextField(default="")
    response_excerpt = peewee.TextField(default="")

    class Meta:
        table_name = "delivery_attempts"


class SchemaVersion(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.CharField()
    applied_at = peewee.DoubleField()

    class Meta:
        table_name = "schema_version"


V1_MODELS = (Call, Extension, OutboxEvent, DeliveryAttempt, SchemaVersion)
