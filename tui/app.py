"""The App: four live screens (as Textual modes) over one data source.

Built with everything it depends on passed in: the data source (the status
API client, or anything with its methods), the clock and the refresh
interval, so tests and screenshots pin them. At each tick of the refresh
timer (every second by default) the App asks the status API for health and
the per-customer outbox (the header) and the current screen reloads its own
data. Nothing waits on the network in the event loop: requests run in async
workers. When the connector cannot be read, the banner says why and the App
asks again later and later (``Backoff``); a request that takes long shows as
slow while the screen stays usable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive

from .backoff import Backoff
from .client import DataSource, SourceError
from .messages import OpenAttempt, OpenCall, OpenDelivery, SourceAnswered, SourceFailed
from .screens.attempt import AttemptScreen
from .screens.base import LiveScreen, unexpected
from .screens.call_detail import CallDetailScreen
from .screens.calls import CallsScreen
from .screens.dashboard import DashboardScreen
from .screens.deliveries import DeliveriesScreen
from .screens.delivery_detail import DeliveryDetailScreen
from .screens.extensions import ExtensionsScreen
from .screens.help import HelpScreen

DEFAULT_REFRESH = 1.0
SLOW_AFTER = 3.0  # seconds without an answer before the banner says so
THEMES = ("textual-dark", "textual-light")
SCREENS = {"dashboard": "Dashboard", "extensions": "Extensions", "calls": "Calls", "deliveries": "Deliveries"}


class ConnectorApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "esl-connector"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # app.tcss: fewer cards under 110 columns
    MODES = {"dashboard": DashboardScreen, "extensions": ExtensionsScreen, "calls": CallsScreen,
             "deliveries": DeliveriesScreen}
    BINDINGS = [
        Binding("1", "switch_mode('dashboard')", "Dashboard"),
        Binding("2", "switch_mode('extensions')", "Extensions"),
        Binding("3", "switch_mode('calls')", "Calls"),
        Binding("4", "switch_mode('deliveries')", "Deliveries"),
        Binding("question_mark", "help", "Help"),
        Binding("t", "toggle_theme", "Theme", show=False),
        Binding("f5", "refresh_now(True)", "Refresh", show=False),
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    health: reactive[dict | None] = reactive(None, always_update=True)
    customers: reactive[list] = reactive(list, always_update=True)
    source_error: reactive[str] = reactive("")
    slow_for: reactive[float] = reactive(0.0)
    retry_in: reactive[float] = reactive(0.0)

    def __init__(self, source: DataSource, *, refresh: float = DEFAULT_REFRESH,
                 clock: Callable[[], float] = time.time, start_mode: str = "dashboard",
                 theme: str = "textual-dark") -> None:
        super().__init__()
        self.source, self.clock, self.refresh_interval = source, clock, refresh
        self.start_mode, self.start_theme = start_mode, theme
        self.health_loads = 0
        self.last_refresh: float | None = None
        self.error_status: int | None = None
        self.backoff = Backoff(base=refresh or 1.0)
        self._waiting_since: float | None = None

    @property
    def failures(self) -> int:
        return self.backoff.failures

    def on_mount(self) -> None:
        self.theme = self.start_theme
        self.switch_mode(self.start_mode)
        self.poll_health()
        if self.refresh_interval > 0:
            self.set_interval(self.refresh_interval, self.action_refresh_now)

    def action_refresh_now(self, force: bool = False) -> None:
        now = time.monotonic()
        waiting = 0.0 if self._waiting_since is None else now - self._waiting_since
        self.slow_for = waiting if waiting >= SLOW_AFTER else 0.0
        self.retry_in = self.backoff.wait(now)
        if not (force or self.backoff.due(now)):
            return
        self.poll_health()
        if isinstance(self.screen, LiveScreen):
            self.screen.reload()

    def poll_health(self) -> None:
        if self._waiting_since is None:  # one request at a time: a slow API is not asked again and again
            self._waiting_since = time.monotonic()
            self.run_worker(self._poll_health(), group="health", exit_on_error=False)

    async def _poll_health(self) -> None:
        try:
            health, customers = await asyncio.gather(self.source.health(), self.source.delivery_stats())
        except SourceError as exc:
            self._failed(str(exc), exc.status)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            self._failed(unexpected(exc), None)
        else:
            self._answered()
            self.health, self.customers = health, customers
            self.health_loads += 1
        finally:
            self._waiting_since, self.slow_for = None, 0.0

    def _failed(self, error: str, status: int | None) -> None:
        if not self.source_error or self.backoff.due(time.monotonic()):
            self.retry_in = self.backoff.failed(time.monotonic())
        self.error_status = status
        self.source_error = error

    def _answered(self) -> None:
        self.backoff.succeeded()
        self.last_refresh = self.clock()
        self.retry_in, self.error_status = 0.0, None
        self.source_error = ""

    def on_source_failed(self, message: SourceFailed) -> None:
        self._failed(message.error, message.status)

    def on_source_answered(self, _message: SourceAnswered) -> None:
        if not self.source_error or self.backoff.failures == 0:
            self.source_error = ""

    def on_open_call(self, message: OpenCall) -> None:
        self.push_screen(CallDetailScreen(message.callid))

    def on_open_delivery(self, message: OpenDelivery) -> None:
        self.push_screen(DeliveryDetailScreen(message.key))

    def on_open_attempt(self, message: OpenAttempt) -> None:
        self.push_screen(AttemptScreen(message.key, message.attempt_id))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = THEMES[1] if self.theme == THEMES[0] else THEMES[0]

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for mode, title in SCREENS.items():
            yield SystemCommand(f"Show {title}", f"Switch to the {title} screen",
                                lambda mode=mode: self.switch_mode(mode))
        yield SystemCommand("Light / dark", "Switch between the light and the dark theme", self.action_toggle_theme)
        yield SystemCommand("Keys", "Every key of the TUI", self.action_help)
        yield SystemCommand("Refresh now", "Ask the connector now, even while backing off",
                            lambda: self.action_refresh_now(True))

    async def on_unmount(self) -> None:
        await self.source.close()
