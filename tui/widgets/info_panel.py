"""A bordered panel of "label  value" lines (the dashboard's cards)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.widgets import Static


class InfoPanel(Static):
    def __init__(self, title: str, wrap: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = title
        self.text = ""
        self.wrap = wrap

    def show(self, rows: Sequence[tuple[str, str | Text]]) -> None:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True, min_width=max((len(label) for label, _ in rows), default=0))
        grid.add_column(no_wrap=not self.wrap, overflow="fold" if self.wrap else "ellipsis")
        for label, value in rows:
            grid.add_row(label, value)
        self.text = "\n".join(f"{label}: {value}" for label, value in rows)  # plain, for tests
        self.update(grid)
