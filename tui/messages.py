"""Messages between the screens, the widgets and the App."""

from __future__ import annotations

from textual.message import Message


class SourceFailed(Message):
    """A screen's request to the status API failed (shown in the banner);
    ``status`` is the HTTP status when there was an answer."""

    def __init__(self, error: str, status: int | None = None) -> None:
        super().__init__()
        self.error, self.status = error, status


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


class FilterChanged(Message):
    """The ``/`` filter's text changed; ``done``: the operator left the filter bar."""

    def __init__(self, text: str, done: bool = False) -> None:
        super().__init__()
        self.text, self.done = text, done


class OpenAttempt(Message):
    """Show one delivery attempt: the request and the response."""

    def __init__(self, key: int | str, attempt_id: int | str) -> None:
        super().__init__()
        self.key, self.attempt_id = key, attempt_id
