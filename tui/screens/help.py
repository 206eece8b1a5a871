"""``?``: every key of the TUI, on top of the screen it was asked from."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("Everywhere", [("1 2 3 4", "Dashboard, Extensions, Calls, Deliveries"), ("?", "this help"),
                    ("/", "filter the rows: words to find (enter keeps it, esc clears it)"),
                    ("o / O", "sort by the next column / reverse (or click a column's header)"),
                    ("enter", "the selected row's detail"), ("esc", "back"),
                    ("ctrl+p", "the command palette (screens, theme, keys)"),
                    ("t", "light / dark theme"), ("F5", "refresh now (also while backing off)"),
                    ("q", "quit")]),
    ("Extensions", [("enter", "the extension's current call")]),
    ("Calls", [("a", "calls in progress only / all"), ("enter", "the call's timeline: legs, CRM events, "
                                                                "every attempt")]),
    ("Deliveries", [("s", "show all / dead / retrying / pending / delivered / skipped"),
                    ("r", "send the selected delivery again"),
                    ("R", "send every dead letter of the selected customer again (asks first)"),
                    ("enter", "a delivery's attempts; on an attempt: its request and response")]),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for section, keys in KEYS:
            table.add_row(f"[reverse] {section} [/]", "")
            for key, what in keys:
                table.add_row(key, what)
            table.add_row("", "")
        with VerticalScroll(id="help-dialog"):
            yield Static(table, id="help-keys")

    def on_mount(self) -> None:
        self.query_one("#help-dialog").border_title = "Keys (esc closes)"
