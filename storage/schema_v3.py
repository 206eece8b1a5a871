"""Schema version 3, frozen: the CDR tables exactly as migration 3 creates them.

Do not edit (see ``schema_v1``).
"""

from __future__ import annotations

import peewee

from .fields import JSONField


class BaseModel(peewee.Model):
    class Meta:
        database = None  # bound to the migrated database by bind_ctx()
        legacy_table_names = False


class CdrLeg(BaseModel):
    uuid = peewee.CharField(primary_key=True, max_length=128)
    callid = peewee.CharField(index=True, max_length=128)
    source = peewee.CharField(default="", max_length=16)
    state = peewee.CharField(default="pending", max_length=16)
    leg = JSONField(default=dict)
    received_at = peewee.DoubleField()
    done_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "cdr_legs"
        indexes = ((("state", "received_at"), False),)


class CdrFile(BaseModel):
    path = peewee.CharField(primary_key=True, max_length=1024)
    size = peewee.BigIntegerField(default=0)
    mtime = peewee.DoubleField(default=0.0)
    outcome = peewee.CharField(default="", max_length=16)
    error = peewee.TextField(default="")
    processed_at = peewee.DoubleField()

    class Meta:
        table_name = "cdr_files"


V3_MODELS = (CdrLeg, CdrFile)
