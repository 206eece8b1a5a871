"""One figure per minute over the last hour: a title, the latest value and the
hour's total, and a sparkline."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline


class MetricPanel(Vertical):
    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = title
        self.border_subtitle = "last hour"

    def compose(self) -> ComposeResult:
        yield Label("-", classes="metric-value")
        yield Sparkline([], classes="metric-spark")

    def show(self, values: Sequence[float | None], caption: str) -> None:
        self.query_one(Label).update(caption)
        self.query_one(Sparkline).data = [v or 0 for v in values]
