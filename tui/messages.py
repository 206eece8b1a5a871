"""Messages between the screens, the widgets and the App."""

from __future__ import annotations

from textual.message import Message


class SourceFailed(Message):
    """A screen's request to the status API failed (shown in the status bar)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class SourceAnswered(Message):
    """A request to the status API succeeded: clear any error shown."""


class OpenCall(Message):
    """Show one call and its timeline."""

    def __init__(self, callid: str) -> None:
        super().__init__()
        self.callid = callid


class OpenDelivery(Message):
    """Show one outbox row and every attempt."""

    def __init__(self, key: int | str) -> None:
        super().__init__()
        self.key = key
