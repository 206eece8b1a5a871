"""Values fitted to their columns before a batch is written: NULs dropped
from every text value, text cut to its column's size. The writer checks a
row in one pass first and only fixes the rows that need it; whatever the
row, the result is the one the plain rule gives."""

import random

import pytest

from storage.batch import _LIMITS, _fit
from storage.models import Call, Extension, OutboxEvent
from storage.rows import CALL_FIELDS, EXTENSION_FIELDS, OUTBOX_COLUMNS


class Text(str):
    """A str subclass: still text, so still fitted."""


def plain_rule(model, row: dict) -> dict:
    fitted = dict(row)
    for name, value in fitted.items():
        if isinstance(value, str) and "\x00" in value:
            fitted[name] = value.replace("\x00", "")
    for name, size in _LIMITS[model]:
        value = fitted.get(name)
        if isinstance(value, str) and len(value) > size:
            fitted[name] = value[:size]
    return fitted


def some_value(rng: random.Random, size: int):
    kind = rng.randrange(12)
    if kind == 0:
        return "a\x00b" * rng.randrange(1, 4)
    if kind == 1:
        return "9" * (size + rng.randrange(1, 40))  # just over, or well over, the column's size
    if kind == 2:
        return "x" * size  # exactly the size: kept whole
    if kind == 3:
        return Text("\x00" + "y" * (size + 1))
    if kind == 4:
        return None
    if kind == 5:
        return ["\x00", "list values are JSON, not text"]
    if kind == 6:
        return {"k": "\x00" * (size + 5)}
    if kind == 7:
        return rng.random() * 1e9
    return "".join(rng.choice("ab\x00\u00e9") for _ in range(rng.randrange(0, 8)))


@pytest.mark.parametrize("model, columns", [(Call, CALL_FIELDS), (Extension, EXTENSION_FIELDS),
                                            (OutboxEvent, OUTBOX_COLUMNS)])
def test_every_row_is_fitted_as_the_plain_rule_says(model, columns):
    rng = random.Random(20261127)
    sizes = dict(_LIMITS[model])
    rows = []
    for _ in range(3000):
        row = {name: some_value(rng, sizes.get(name, 255)) if rng.random() < 0.3 else "ok"
               for name in columns}
        if rng.random() < 0.1:
            del row[rng.choice(columns)]  # a row without one of its columns
        rows.append(row)
    expected = [plain_rule(model, row) for row in rows]
    assert _fit(model, rows) == expected


def test_rows_within_their_columns_are_left_as_they_are():
    row = {name: "v" for name in EXTENSION_FIELDS} | {"updated_at": 1.5, "expires_at": 0.0}
    kept = dict(row)
    assert _fit(Extension, [row]) == [kept]
