"""Portable field types shared by the models and the frozen migration schemas."""

from __future__ import annotations

import json

import peewee


class JSONField(peewee.TextField):
    """JSON stored as TEXT, so the same column works on SQLite and PostgreSQL.

    Values are written compactly with sorted keys (stable for diffs and tests)
    and read back as Python lists/dicts; NULL and '' read as None.
    """

    def db_value(self, value):
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)

    def python_value(self, value):
        if value is None or value == "":
            return None
        return json.loads(value)


class MonotonicAutoField(peewee.BigAutoField):
    """A 64-bit auto-increment primary key whose values are never reused.

    PostgreSQL's BIGSERIAL never reuses values. SQLite's plain INTEGER PRIMARY
    KEY hands out max(rowid)+1, so deleting the newest rows (retention) would
    let a new row take an id a consumer already saw; AUTOINCREMENT prevents
    that. The keyword is added only when the DDL is compiled for SQLite.
    """

    def ddl(self, ctx):
        node = super().ddl(ctx)
        db = getattr(ctx.state.conflict_statement, "__self__", None)
        if isinstance(db, peewee.SqliteDatabase):
            return peewee.NodeList((node, peewee.SQL("AUTOINCREMENT")))
        return node
