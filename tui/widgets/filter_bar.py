"""The ``/`` filter: a one-line input under the tables. Typing filters the
screen's tables as you type; enter keeps the filter and goes back to the
table; escape clears it."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from ..messages import FilterChanged


class FilterBar(Input):
    BINDINGS = [Binding("escape", "clear_filter", "Clear filter"),
                Binding("enter", "keep_filter", "Keep filter", show=False)]

    def __init__(self, **kwargs) -> None:
        super().__init__(placeholder="filter: words to find in a row (enter keeps, esc clears)", **kwargs)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(FilterChanged(event.value))

    def action_clear_filter(self) -> None:
        self.value = ""
        self.post_message(FilterChanged("", done=True))

    def action_keep_filter(self) -> None:
        self.post_message(FilterChanged(self.value, done=True))
