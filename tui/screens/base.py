"""What every live screen shares: the status bar and footer, and a refresh
that asks the data source in an async worker and shows the answer.

A subclass writes ``compose_body`` (its widgets), ``fetch`` (what to ask the
source; runs in the worker) and ``show`` (puts the answer on screen). The App
calls ``reload`` at each tick of its refresh timer; the screen reloads itself
when it is shown. ``loads`` counts the answers shown (tests wait on it).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from ..client import SourceError
from ..messages import SourceAnswered, SourceFailed
from ..widgets.status_bar import StatusBar


class LiveScreen(Screen):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.loads = 0
        self._loading = False

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status-bar")
        yield from self.compose_body()
        yield Footer()

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
        except SourceError as exc:
            self.post_message(SourceFailed(str(exc)))
        else:
            self.show(data)
            self.loads += 1
            self.post_message(SourceAnswered())
        finally:
            self._loading = False
