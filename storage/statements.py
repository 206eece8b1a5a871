"""The writer's hot statements, compiled once: multi-row upserts and inserts.

Every batch writes the same three statements (call upserts, extension
upserts, outbox inserts). Building them with peewee's query builder cost more
than running them (about 60 % of the call upserts' time in profiles of the
end-to-end benchmark), so each is compiled here once per table from the
model, and only the values are converted per row.

Portable: ``INSERT ... ON CONFLICT (...) DO UPDATE SET col = EXCLUDED.col``
is the same on SQLite (3.24+) and PostgreSQL; placeholders use the
database's parameter style. SQLite runs one prepared single-row statement
over all rows (``executemany``: prepared once, stepped in C); PostgreSQL gets
multi-row ``VALUES`` lists (psycopg2's ``executemany`` is one round trip per
row).

Values are converted as peewee would for these columns: JSON columns are
encoded (orjson, sorted keys, the same JSON ``JSONField`` writes), columns a
row does not carry get the model's default, so a row written here reads back
exactly as one written by ``Model.insert_many``.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter

import orjson
import peewee

from .fields import JSONField

# Bound parameters per statement, below SQLite's 32766 (3.32+) and PostgreSQL's 65535.
MAX_PARAMS = 8000


def encode_json(value) -> str | None:
    """``JSONField.db_value``, by orjson (~10x faster on tracker states)."""
    if value is None:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except (TypeError, orjson.JSONEncodeError):  # non-str keys, big ints...: as the field does
        return JSONField().db_value(value)


class Upsert:
    """``INSERT INTO table (...) VALUES ... ON CONFLICT (target) DO UPDATE SET ...``
    for rows (dicts) that carry ``carried`` columns; the model's other columns
    (its auto-increment key aside) are inserted with their defaults, computed
    once here (the models' callable defaults are ``dict``/``list``: constants)."""

    def __init__(self, model: type[peewee.Model], carried: Sequence[str], conflict: Sequence[str],
                 update: Sequence[str]):
        meta = model._meta
        unknown = set(carried) - set(meta.fields)
        if unknown:
            raise ValueError(f"{meta.table_name} has no column {sorted(unknown)}")
        fields = [meta.fields[name] for name in carried]
        plain = [f.name for f in fields if not isinstance(f, JSONField)]
        self._json = tuple(f.name for f in fields if isinstance(f, JSONField))
        defaulted = [f for f in meta.sorted_fields
                     if f.name not in carried and not isinstance(f, peewee.AutoField)]
        self._plain = itemgetter(*plain) if len(plain) > 1 else (lambda row: (row[plain[0]],))
        self._constants = tuple(f.db_value(f.default() if callable(f.default) else f.default)
                                for f in defaulted)
        self.table = meta.table_name
        self.columns = tuple(meta.fields[n].column_name for n in (*plain, *self._json)) + tuple(
            f.column_name for f in defaulted)
        quoted = ", ".join(f'"{c}"' for c in self.columns)
        target = ", ".join(f'"{meta.fields[c].column_name}"' for c in conflict)
        assignments = ", ".join(f'"{meta.fields[c].column_name}" = EXCLUDED."{meta.fields[c].column_name}"'
                                for c in update)
        self._head = f'INSERT INTO "{self.table}" ({quoted}) VALUES '
        self._tail = f" ON CONFLICT ({target}) DO UPDATE SET {assignments}"
        self._row_sql: dict[str, str] = {}

    def values(self, row: dict) -> tuple:
        """The row's parameters, in ``columns`` order."""
        return (*self._plain(row), *[encode_json(row[name]) for name in self._json], *self._constants)

    def sql(self, param: str, rows: int) -> str:
        """The statement for ``rows`` rows (only the placeholders of one row are
        kept: a cache per row count would hold megabytes of SQL text)."""
        one = self._row_sql.get(param)
        if one is None:
            one = self._row_sql[param] = "(" + ", ".join([param] * len(self.columns)) + ")"
        return self._head + ", ".join([one] * rows) + self._tail

    def execute(self, db: peewee.Database, rows: list[dict]) -> None:
        """Write ``rows`` in the current transaction (peewee's exceptions on failure)."""
        if not rows:
            return
        values = [self.values(row) for row in rows]
        param = db.param
        with peewee.__exception_wrapper__:
            cursor = db.cursor()
            if isinstance(db, peewee.SqliteDatabase):
                cursor.executemany(self.sql(param, 1), values)
                return
            per_statement = max(1, MAX_PARAMS // len(self.columns))
            for start in range(0, len(values), per_statement):
                chunk = values[start:start + per_statement]
                cursor.execute(self.sql(param, len(chunk)), [v for row in chunk for v in row])
