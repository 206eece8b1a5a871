"""Plain data shared by the webhook builder (``webhooks``) and the delivery
engine (``delivery``): what to send, and what happened when it was sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DELIVERED = "delivered"
RETRY = "retry"
GIVE_UP = "give_up"


@dataclass(slots=True)
class WebhookRequest:
    """One HTTP request, fully built: the engine sends it as it is.

    ``auth`` is a ``requests`` auth object (HTTPBasicAuth, HTTPDigestAuth, a
    Bearer/API-key AuthBase) or None. ``redacted_url`` is the URL with every
    secret replaced by ``***``: the only form that may be logged or stored."""

    method: str
    url: str
    redacted_url: str
    # params and body may carry secrets: kept out of repr() so a logged request cannot leak them.
    params: dict[str, str] = field(default_factory=dict, repr=False)  # query string, in order
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = field(default=None, repr=False)   # exact bytes (JSON or form)
    auth: Any = None
    endpoint: str = ""  # scheme://host:port, the unit of per-endpoint concurrency
    secrets: tuple[str, ...] = field(default=(), repr=False)  # the customer's: never stored


@dataclass(slots=True)
class DeliveryPlan:
    """Every URL one outbox event goes to, and how they relate."""

    event_id: str
    customer: str
    mode: str  # SINGLE | FAILOVER | PARALLEL
    requests: list[WebhookRequest]
    expire_after: float = 0.0  # start events: older than this when due -> expired, not sent


@dataclass(slots=True)
class AttemptResult:
    """What one HTTP attempt did (stored as a DeliveryAttempt row)."""

    url: str            # redacted
    started_at: float
    latency_ms: float
    status_code: int | None
    error: str          # "" on a response; the exception's message otherwise
    response_excerpt: str
    retry_after: float | None = None  # seconds, from a Retry-After header
    endpoint: str = ""  # scheme://host:port it was sent to
    request: dict | None = None  # as sent, secrets as *** (``sent_request.as_sent``)


@dataclass(slots=True)
class Outcome:
    """The verdict on one delivery of an outbox event (all its URLs)."""

    verdict: str  # DELIVERED | RETRY | GIVE_UP
    attempts: list[AttemptResult]
    reason: str = ""
    retry_after: float | None = None


@dataclass(slots=True)
class EngineStatus:
    """What the delivery engine reports (``DeliveryEngine.status()``)."""

    running: bool
    in_flight: int        # requests being sent
    recording: int        # sent, their outcome waiting to be committed
    workers: int
    busy_endpoints: dict[str, int]
    delivered: int
    retried: int
    dead: int
    skipped: int
    requests: int
    last_error: str
    endpoints: list[dict] = field(default_factory=list)  # EndpointHealth.snapshot()
    instance: str = ""  # this process's name in the outbox's claims (claims)
    # [delivery] process = "separate": the child's mode, up, pid, restarts and last exit
    # (supervisor.DeliveryProcess); None when the engine runs in the connector's process.
    process: dict | None = None
