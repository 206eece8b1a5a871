"""The App: four live screens (as Textual modes) over one data source.

Built with everything it depends on passed in: the data source (the status
API client, or anything with its methods), the clock and the refresh
interval, so tests and screenshots pin them. At each tick of the refresh
timer the App asks the status API for health (the status bar) and the
current screen reloads its own data.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive

from .client import DataSource, SourceError
from .messages import OpenCall, OpenDelivery, SourceAnswered, SourceFailed
from .screens.base import LiveScreen
from .screens.call_detail import CallDetailScreen
from .screens.calls import CallsScreen
from .screens.dashboard import DashboardScreen
from .screens.deliveries import DeliveriesScreen
from .screens.delivery_detail import DeliveryDetailScreen
from .screens.extensions import ExtensionsScreen

DEFAULT_REFRESH = 2.0


class ConnectorApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "esl-connector"
    MODES = {"dashboard": DashboardScreen, "extensions": ExtensionsScreen, "calls": CallsScreen,
             "deliveries": DeliveriesScreen}
    BINDINGS = [
        Binding("1", "switch_mode('dashboard')", "Dashboard"),
        Binding("2", "switch_mode('extensions')", "Extensions"),
        Binding("3", "switch_mode('calls')", "Calls"),
        Binding("4", "switch_mode('deliveries')", "Deliveries"),
        Binding("f5", "refresh_now", "Refresh"),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    health: reactive[dict | None] = reactive(None, always_update=True)
    source_error: reactive[str] = reactive("")

    def __init__(self, source: DataSource, *, refresh: float = DEFAULT_REFRESH,
                 clock: Callable[[], float] = time.time, start_mode: str = "dashboard") -> None:
        super().__init__()
        self.source, self.clock, self.refresh_interval = source, clock, refresh
        self.start_mode = start_mode
        self.health_loads = 0

    def on_mount(self) -> None:
        self.switch_mode(self.start_mode)
        self.poll_health()
        if self.refresh_interval > 0:
            self.set_interval(self.refresh_interval, self.action_refresh_now)

    def action_refresh_now(self) -> None:
        self.poll_health()
        if isinstance(self.screen, LiveScreen):
            self.screen.reload()

    def poll_health(self) -> None:
        self.run_worker(self._poll_health(), group="health", exclusive=True, exit_on_error=False)

    async def _poll_health(self) -> None:
        try:
            self.health = await self.source.health()
        except SourceError as exc:
            self.source_error = str(exc)
        else:
            self.source_error = ""
            self.health_loads += 1

    def on_source_failed(self, message: SourceFailed) -> None:
        self.source_error = message.error

    def on_source_answered(self, _message: SourceAnswered) -> None:
        self.source_error = ""

    def on_open_call(self, message: OpenCall) -> None:
        self.push_screen(CallDetailScreen(message.callid))

    def on_open_delivery(self, message: OpenDelivery) -> None:
        self.push_screen(DeliveryDetailScreen(message.key))

    async def on_unmount(self) -> None:
        await self.source.close()
