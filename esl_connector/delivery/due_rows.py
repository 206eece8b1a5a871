"""The delivery engine's reads of due outbox rows, as prepared SQL.

The same query as ``storage.queries.due_for_delivery`` (same rows, same order,
same ordering rule), but its SQL text is built once per shape and reused:
building it with peewee's query builder for every page cost three times what
SQLite took to run it, and the engine asks after every commit. Lists of
excluded ids and customers are padded to a power of two (repeating their first
value), so a handful of shapes serve every length.

``claimable_by`` (a delivery instance, ``claims``): only rows no other live
lease holds, and on PostgreSQL locked ``FOR UPDATE SKIP LOCKED`` for the
claim written in the same transaction.
"""

from __future__ import annotations

import peewee

from esl_connector.records import CALL_LOG
from storage.db import connected
from storage.models import OUTBOX_DUE, PENDING, Call, OutboxEvent
from storage.views import StoredEvent

_FIELDS = [OutboxEvent._meta.fields[name] for name in StoredEvent.__slots__]
_CONVERT = [field.python_value for field in _FIELDS]


def padded(values: list, minimum: int = 8) -> list:
    """``values`` grown to the next power of two by repeating the first one
    (NOT IN (a, a, b) is NOT IN (a, b))."""
    size = minimum
    while size < len(values):
        size *= 2
    return values + [values[0]] * (size - len(values))


class DueRows:
    """``page(...)``: one page of due rows with their call's pass-through params."""

    def __init__(self, db: peewee.Database):
        self.db = db
        self._sql: dict[tuple, str] = {}

    def page(self, now: float, status: str, *, after: tuple[float, int] | int | None = None,
             limit: int = 200, exclude_customers=(), exclude_ids=(),
             claimable_by: str | None = None) -> list[tuple[StoredEvent, dict]]:
        customers = padded(list(exclude_customers)) if exclude_customers else []
        ids = padded(list(exclude_ids)) if exclude_ids else []
        pending = status == PENDING
        args: list = [status, now, CALL_LOG, *OUTBOX_DUE]
        if pending:
            args.append(after or 0)
        elif after is not None:
            at, last_id = after
            args += [at, at, last_id]
        args += [*customers, *ids]
        if claimable_by is not None:
            args += [now, claimable_by]
        args.append(limit)
        sql = self._sql_for(pending, after is not None, len(customers), len(ids),
                            claimable_by is not None)
        with connected(self.db):
            rows = self.db.execute_sql(sql, args).fetchall()
        page = []
        for row in rows:
            event = StoredEvent(*[convert(value) for convert, value in zip(_CONVERT, row)])
            params = Call.params.python_value(row[-1])
            page.append((event, params if isinstance(params, dict) else {}))
        return page

    def _sql_for(self, pending: bool, after: bool, customers: int, ids: int, claim: bool) -> str:
        key = (pending, after, customers, ids, claim)
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = self._build(*key)
        return sql

    def _build(self, pending: bool, after: bool, customers: int, ids: int, claim: bool) -> str:
        p = self.db.param

        def q(name: str) -> str:  # SQL identifiers, the same on SQLite and PostgreSQL
            return f'"{name}"'

        outbox, call = q(OutboxEvent._meta.table_name), q(Call._meta.table_name)

        def col(alias: str, name: str) -> str:
            return f"{alias}.{q(name)}"

        def params(n: int) -> str:
            return ", ".join([p] * n)

        columns = ", ".join(col("o", f.column_name) for f in _FIELDS)
        where = [f"{col('o', 'status')} = {p}", f"{col('o', 'next_attempt_at')} <= {p}",
                 f"({col('o', 'event_type')} != {p} OR NOT EXISTS (SELECT 1 FROM {outbox} AS e "
                 f"WHERE {col('e', 'callid')} = {col('o', 'callid')} AND {col('e', 'id')} < {col('o', 'id')} "
                 f"AND {col('e', 'status')} IN ({params(len(OUTBOX_DUE))})))"]
        if pending:
            # always a range on id: without it SQLite walks (status, next_attempt_at)
            where.append(f"{col('o', 'id')} > {p}")
            order = col("o", "id")
        else:
            if after:
                where.append(f"({col('o', 'next_attempt_at')} > {p} OR ({col('o', 'next_attempt_at')} = {p} "
                             f"AND {col('o', 'id')} > {p}))")
            order = f"{col('o', 'next_attempt_at')}, {col('o', 'id')}"
        if customers:
            where.append(f"{col('o', 'customer')} NOT IN ({params(customers)})")
        if ids:
            where.append(f"{col('o', 'id')} NOT IN ({params(ids)})")
        lock = ""
        if claim:  # nobody's, a lease run out, or already ours
            where.append(f"({col('o', 'claim_until')} <= {p} OR {col('o', 'claimed_by')} = {p})")
            if not isinstance(self.db, peewee.SqliteDatabase):  # SQLite: the caller's write lock
                lock = " FOR UPDATE OF o SKIP LOCKED"
        return (f"SELECT {columns}, {col('c', 'params')} FROM {outbox} AS o "
                f"LEFT OUTER JOIN {call} AS c ON ({col('c', 'callid')} = {col('o', 'callid')}) "
                f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {p}{lock}")
