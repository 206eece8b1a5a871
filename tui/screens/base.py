"""What every live screen shares: the header, the banner, the ``/`` filter
bar and the footer, and a refresh that asks the data source in an async
worker and shows the answer.

A subclass writes ``compose_body`` (its widgets), ``fetch`` (what to ask the
source; runs in the worker) and ``show`` (puts the answer on screen). The App
calls ``reload`` at each tick of its refresh timer (unless it is backing off
after failures); the screen reloads itself when it is shown. ``loads``
counts the answers shown (tests wait on it).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from ..client import SourceError
from ..messages import FilterChanged, SourceAnswered, SourceFailed
from ..widgets.banner import Banner
from ..widgets.filter_bar import FilterBar
from ..widgets.live_table import LiveTable
from ..widgets.status_bar import StatusBar


def unexpected(exc: Exception) -> str:
    return f"the connector's answer was not understood ({type(exc).__name__}: {exc}): another version?"


class LiveScreen(Screen):
    BINDINGS = [Binding("slash", "open_filter", "Filter")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.loads = 0
        self._loading = False

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status-bar")
        yield Banner(id="banner")
        yield from self.compose_body()
        yield FilterBar(id="filter-bar")
        yield Footer(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    async def fetch(self, source) -> Any:
        raise NotImplementedError

    def show(self, data: Any) -> None:
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Ask the source again, unless an answer is still awaited."""
        if self._loading or not self.is_mounted:
            return
        self._loading = True
        self.run_worker(self._load(), group="load", exit_on_error=False)

    async def _load(self) -> None:
        try:
            data = await self.fetch(self.app.source)
            self.show(data)
        except SourceError as exc:
            self.post_message(SourceFailed(str(exc), exc.status))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            self.post_message(SourceFailed(unexpected(exc)))  # another version's API? say so, no traceback
        else:
            self.loads += 1
            self.post_message(SourceAnswered())
        finally:
            self._loading = False

    # -- the / filter ---------------------------------------------------------------
    def filtered_tables(self) -> list[LiveTable]:
        """The tables the filter applies to: every table of the screen."""
        return list(self.query(LiveTable))

    def action_open_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.add_class("open")
        bar.focus()

    def on_filter_changed(self, message: FilterChanged) -> None:
        for table in self.filtered_tables():
            table.set_filter(message.text)
        bar = self.query_one(FilterBar)
        if message.done:
            bar.set_class(bool(message.text), "open")
            tables = self.filtered_tables()
            if tables:
                tables[-1].focus()
