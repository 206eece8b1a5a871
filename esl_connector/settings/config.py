"""Typed settings, loaded from a TOML file, validated before anything starts.

Every key is documented in ``conf/esl-connector.toml``. Secrets may instead
come from the environment, which wins over the file:

* ``ESL_CONNECTOR_FREESWITCH_PASSWORD`` -> ``freeswitch.password`` (every node; per node
  ``ESL_CONNECTOR_FREESWITCH_<NODE>_PASSWORD`` wins, ``nodes_config.py``)
* ``ESL_CONNECTOR_DATABASE_URL``        -> ``storage.url``
* ``ESL_CONNECTOR_API_TOKEN``           -> ``http.api_token``
* ``ESL_CONNECTOR_RECORDING_KEY``       -> ``recordings.signing_key``
* ``ESL_CONNECTOR_CDR_PASSWORD``        -> ``cdr.password``
* per customer: ``ESL_CONNECTOR_CUSTOMER_<CODE>_SECRET`` and friends (``customer_config.py``)

``load_settings`` raises ``ConfigError`` listing *every* problem with its key
path, so ``esl-connector check-config`` can print them all at once.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from .cdr_config import CdrSettings, validate_cdr
from .customer_config import parse_customers
from .errors import ConfigError
from .nodes_config import FreeSwitchSettings, build_nodes

# Extensions: 2-6 digits (the call tracker matches dialed_user / user_name against it).
DEFAULT_EXTENSION_PATTERN = r"^[0-9]{2,6}$"

ENV_OVERRIDES = {
    ("storage", "url"): "ESL_CONNECTOR_DATABASE_URL",
    ("http", "api_token"): "ESL_CONNECTOR_API_TOKEN",
    ("recordings", "signing_key"): "ESL_CONNECTOR_RECORDING_KEY",
    ("cdr", "password"): "ESL_CONNECTOR_CDR_PASSWORD",
}


@dataclass(slots=True)
class TrackerConfig:
    extension_pattern: str = DEFAULT_EXTENSION_PATTERN
    userfield_variables: list[str] = field(default_factory=lambda: ["crm_userfield"])


@dataclass(slots=True)
class StorageSettings:
    url: str = "sqlite:///var/lib/esl-connector/connector.db"
    commit_window: float = 0.0  # 0 = group commit: at once when idle, batched under load
    call_retention: float = 0.0  # seconds after their end calls are deleted with their events; 0 = keep


@dataclass(slots=True)
class LoggingSettings:
    level: str = "INFO"
    format: str = "plain"  # or "json": one JSON object per line (esl_connector/logs.py)


@dataclass(slots=True)
class SimulatorSettings:
    host: str = "127.0.0.1"
    port: int = 8021
    password: str = "ClueCon"
    extensions: str = "101-110"
    speed: float = 1.0
    heartbeat_interval: float = 20.0


DELIVERY_PROCESS_MODES = ("inline", "separate")
MAX_DELIVERY_PROCESSES = 16


@dataclass(slots=True)
class DeliverySettings:
    """The delivery engine (esl_connector.delivery); times in seconds."""

    workers: int = 32                   # concurrent deliveries, all endpoints together
    per_endpoint_concurrency: int = 4   # concurrent requests to one scheme://host:port
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_age: float = 259200.0           # 3 days: retry until an event is this old, then dead
    dead_retention: float = 2592000.0   # 30 days: purge dead/skipped rows after this; 0 = keep
    user_agent: str = ""                # "" = esl-connector/<version>
    poll_interval: float = 1.0          # look for due retries at least this often
    stop_timeout: float = 10.0          # on SIGTERM, deliveries in flight get this long to finish
    # "separate": the engine runs in a child process of its own, on another core;
    # "inline": in the connector's process (docs/delivery.md, "Process model")
    process: str = "separate"
    # "separate": how many delivery processes share the outbox (through the claims);
    # each about one core's worth of webhooks (docs/delivery.md, "Process model")
    processes: int = 1
    # endpoint health (docs/delivery.md): down after this many consecutive failures
    # (connection error, timeout, 5xx), then one probe per probe_interval..probe_max_interval
    failure_threshold: int = 5
    probe_interval: float = 1.0
    probe_max_interval: float = 30.0
    # several connectors on one database (docs/deployment.md): this process's name in
    # the outbox's claims ("" = host:pid) and how long a claim lasts unless renewed
    instance: str = ""
    claim_lease: float = 30.0


@dataclass(slots=True)
class HttpSettings:
    """``[http]``: the connector's HTTP server (status API, click2call, recordings)."""

    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: str = ""
    tls_key: str = ""
    api_token: str = field(default="", repr=False)  # or ESL_CONNECTOR_API_TOKEN
    public_url: str = ""  # how CRMs reach this server, e.g. https://pbx.example.com:8443


RECORDING_URL_LIFETIME = 7 * 86400.0
RECORDING_KEY_FILE = "/var/lib/esl-connector/recording.key"
RECORDING_KEY_MIN_BYTES = 16
RECORDING_URL_MAX_LIFETIME = 10 * 365 * 86400.0


@dataclass(slots=True)
class RecordingSettings:
    """``[recordings]``: where FreeSWITCH writes recordings and how links are signed."""

    directory: str = ""            # "" = recordings are not served; the call log's recording is ""
    freeswitch_directory: str = ""  # the same directory as FreeSWITCH names it, if mounted elsewhere
    url_lifetime: float = RECORDING_URL_LIFETIME  # seconds a link works, counted from each delivery attempt
    signing_key: str = field(default="", repr=False)  # or ESL_CONNECTOR_RECORDING_KEY
    key_file: str = RECORDING_KEY_FILE  # used when signing_key is "": created (random, 0600) if absent


@dataclass(slots=True)
class Click2CallSettings:
    """``[click2call]``: limits shared by every customer (rates per second)."""

    customer_rate: float = 10.0        # sustained requests per customer
    customer_burst: int = 50
    extension_rate: float = 0.2        # one click every 5 s per extension...
    extension_burst: int = 3           # ...after a burst of 3
    auth_failure_rate: float = 0.1     # per client address: wrong secrets or unknown customers
    auth_failure_burst: int = 10
    userfield_max_length: int = 128
    max_params: int = 20               # "environment parameters" besides the four of the guide
    max_param_length: int = 1000
    job_wait_margin: float = 30.0      # await the job for originate_timeout + this
    default_node: str = ""             # the node for an extension registered on none ("" = refuse)

    @classmethod
    def from_settings(cls, settings) -> Click2CallSettings:
        raw = getattr(settings, "click2call", None) if settings is not None else None
        if raw is None or isinstance(raw, cls):
            return raw or cls()
        get = raw.get if isinstance(raw, dict) else (lambda name, default: getattr(raw, name, default))
        return cls(**{f.name: get(f.name, getattr(cls(), f.name)) for f in fields(cls)})


@dataclass(slots=True)
class Settings:
    freeswitch: FreeSwitchSettings = field(default_factory=FreeSwitchSettings)  # the first node
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    storage: StorageSettings = field(default_factory=StorageSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    recordings: RecordingSettings = field(default_factory=RecordingSettings)
    click2call: Click2CallSettings = field(default_factory=Click2CallSettings)
    cdr: CdrSettings = field(default_factory=CdrSettings)
    # [[customers]] tables, parsed and validated by esl_connector.settings.customer_config.
    customers: list[dict] = field(default_factory=list)
    # Every FreeSWITCH node: [freeswitch] (one) or [[freeswitch]] tables
    # (nodes_config.py); ``freeswitch`` is the first. Not a key of its own.
    nodes: list[FreeSwitchSettings] = field(default_factory=list, metadata={"derived": True})

    def node_settings(self) -> list[FreeSwitchSettings]:
        """Every node, the first one first (``freeswitch`` alone when built by hand)."""
        return self.nodes or [self.freeswitch]


def _coerce(value: Any, kind: Any, path: str, problems: list[str]) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    origin = getattr(kind, "__origin__", None)
    if origin is list:
        (item,) = kind.__args__
        if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
            problems.append(f"{path}: expected a list of {item.__name__}")
            return None
        return list(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        problems.append(f"{path}: expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return None
    return value


def _build(cls: type, data: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(data, dict):
        problems.append(f"{path}: expected a table")
        return cls()
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if not f.metadata.get("derived")}
    for key in data:
        if key not in names:
            problems.append(f"{path}.{key}".lstrip(".") + f": unknown key (known: {', '.join(sorted(names))})")
    values = {}
    for name in names:
        if name not in data:
            continue
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            values[name] = _build(kind, data[name], f"{path}.{name}".lstrip("."), problems)
        else:
            coerced = _coerce(data[name], kind, f"{path}.{name}".lstrip("."), problems)
            if coerced is not None:
                values[name] = coerced
    return cls(**values)


def _validate(s: Settings, problems: list[str]) -> None:
    try:
        re.compile(s.tracker.extension_pattern)
    except re.error as exc:
        problems.append(f"tracker.extension_pattern: not a regular expression ({exc})")
    if not re.match(r"^(sqlite|postgres(ql)?)://", s.storage.url) and "://" in s.storage.url:
        problems.append(f"storage.url: unsupported scheme in {s.storage.url.split('://')[0]!r} (sqlite:// or postgresql://)")
    if not 0 <= s.storage.commit_window <= 5:
        problems.append("storage.commit_window: must be between 0 and 5 seconds")
    if s.logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"logging.level: {s.logging.level!r} is not DEBUG, INFO, WARNING or ERROR")
    if s.logging.format not in ("plain", "json"):
        problems.append(f"logging.format: {s.logging.format!r} is not 'plain' or 'json'")
    try:
        parse_extension_range(s.simulator.extensions)
    except ValueError as exc:
        problems.append(f"simulator.extensions: {exc}")
    if s.storage.call_retention < 0 or 0 < s.storage.call_retention < 86400:
        problems.append("storage.call_retention: must be 0 (keep every call) or at least 86400 seconds")
    _validate_delivery(s.delivery, problems)


def _validate_default_node(s: Settings, problems: list[str]) -> None:
    names = [n.node for n in s.nodes]
    if s.click2call.default_node and s.click2call.default_node not in names:
        problems.append(f"click2call.default_node: {s.click2call.default_node!r} is not a configured "
                        f"node ({', '.join(names)})")


def _validate_delivery(d: DeliverySettings, problems: list[str]) -> None:
    for name in ("workers", "per_endpoint_concurrency"):
        if not 1 <= getattr(d, name) <= 1000:
            problems.append(f"delivery.{name}: must be between 1 and 1000")
    if not 1 <= d.failure_threshold <= 1000:
        problems.append("delivery.failure_threshold: must be between 1 and 1000")
    if d.probe_max_interval < d.probe_interval:
        problems.append("delivery.probe_max_interval: must be >= probe_interval")
    for name in ("connect_timeout", "read_timeout", "max_age", "poll_interval", "probe_interval",
                 "stop_timeout"):
        if getattr(d, name) <= 0:
            problems.append(f"delivery.{name}: must be > 0")
    if d.dead_retention < 0:
        problems.append("delivery.dead_retention: must be >= 0 (0 keeps dead rows forever)")
    if d.claim_lease < 3 * d.poll_interval:
        problems.append("delivery.claim_lease: must be >= 3 x poll_interval (claims are renewed "
                        "every third of the lease, checked every poll_interval)")
    if not re.fullmatch(r"[\w.:@-]{0,100}", d.instance):
        problems.append("delivery.instance: at most 100 letters, digits and . : @ _ - (no spaces)")
    if d.process not in DELIVERY_PROCESS_MODES:
        problems.append(f"delivery.process: must be 'inline' or 'separate', not {d.process!r}")
    if not 1 <= d.processes <= MAX_DELIVERY_PROCESSES:
        problems.append(f"delivery.processes: must be 1..{MAX_DELIVERY_PROCESSES} (delivery processes "
                        f"sharing the outbox; about one per spare core), not {d.processes}")
    elif d.processes > 1 and d.process != "separate":
        problems.append(f"delivery.processes: {d.processes} needs delivery.process = \"separate\" "
                        "(inline, the engine runs in the connector's own process)")
    if any(c in d.user_agent for c in "\r\n"):
        problems.append("delivery.user_agent: must be one line")


def validate_http(h: HttpSettings, problems: list[str]) -> None:
    """Config problems as 'key: why' ."""
    if not 0 <= h.port < 65536:
        problems.append(f"http.port: {h.port} is not a TCP port")
    if bool(h.tls_cert) != bool(h.tls_key):
        problems.append("http.tls_cert/tls_key: give both (certificate chain and private key) or neither")
    if h.public_url and (not h.public_url.startswith(("http://", "https://")) or "?" in h.public_url):
        problems.append(f"http.public_url: must be http(s)://host[:port][/prefix], not {h.public_url!r}")
    if h.api_token and len(h.api_token) < 16:
        problems.append("http.api_token: too short (at least 16 characters)")


def validate_recordings(r: RecordingSettings, public_url: str, problems: list[str]) -> None:
    """Config problems as 'key: why' ."""
    if not r.directory:
        return
    if not os.path.isabs(r.directory):
        problems.append(f"recordings.directory: must be an absolute path, not {r.directory!r}")
    if r.freeswitch_directory and not r.freeswitch_directory.startswith("/"):
        problems.append("recordings.freeswitch_directory: must be an absolute path")
    if not 60 <= r.url_lifetime <= RECORDING_URL_MAX_LIFETIME:
        problems.append("recordings.url_lifetime: must be between 60 seconds and 10 years")
    if r.signing_key and len(r.signing_key.encode()) < RECORDING_KEY_MIN_BYTES:
        problems.append(f"recordings.signing_key: too short (at least {RECORDING_KEY_MIN_BYTES} bytes; "
                        "or leave it empty to use key_file)")
    if not r.signing_key and not r.key_file:
        problems.append("recordings.key_file: empty (set it, or signing_key / ESL_CONNECTOR_RECORDING_KEY)")
    if not public_url.startswith(("http://", "https://")):
        problems.append("http.public_url: required with recordings.directory: the http(s):// URL "
                        "CRMs reach this server at (recording links start with it)")


def _validate_customers(settings: Settings, env, problems: list[str]) -> None:
    try:
        parse_customers(settings.customers, env)
    except ConfigError as exc:
        problems.extend(exc.problems)


def parse_extension_range(spec: str) -> list[str]:
    """``"101-150,200"`` -> ["101", ..., "150", "200"]."""
    result: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        first, sep, last = part.partition("-")
        if not first.isdigit() or (sep and not last.isdigit()):
            raise ValueError(f"{part!r} is not a number or a range like 101-150")
        if sep:
            lo, hi = int(first), int(last)
            if hi < lo or hi - lo > 10000:
                raise ValueError(f"range {part!r} is empty or too large")
            result += [str(n).zfill(len(first)) for n in range(lo, hi + 1)]
        else:
            result.append(first)
    if not result:
        raise ValueError("no extensions given")
    return result


def settings_from_dict(data: dict, source: str = "", env: dict | None = None) -> Settings:
    env = os.environ if env is None else env
    problems: list[str] = []
    data = dict(data) if isinstance(data, dict) else data
    raw_nodes = data.pop("freeswitch", None) if isinstance(data, dict) else None
    settings = _build(Settings, data, "", problems)
    settings.nodes = build_nodes(raw_nodes, _build, env, problems)
    settings.freeswitch = settings.nodes[0]
    for (section, key), var in ENV_OVERRIDES.items():
        if env.get(var):
            setattr(getattr(settings, section), key, env[var])
    _validate(settings, problems)
    _validate_default_node(settings, problems)
    validate_http(settings.http, problems)
    validate_recordings(settings.recordings, settings.http.public_url, problems)
    validate_cdr(settings.cdr, problems)
    _validate_customers(settings, env, problems)
    if problems:
        raise ConfigError(problems, source)
    return settings


def load_settings(path: str | os.PathLike | None, env: dict | None = None) -> Settings:
    """Settings from a TOML file (defaults only when ``path`` is None)."""
    if path is None:
        return settings_from_dict({}, "defaults", env)
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"file not found: {file}"], str(file)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read {file}: {exc}"], str(file)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(file)) from None
    return settings_from_dict(data, str(file), env)
