"""The connector's log lines: plain text (the default) or one JSON object per
line (``[logging] format = "json"``), secrets redacted in both.

Redaction happens where a line is formatted, so it covers every logger, the
message, its arguments, structured extras and tracebacks alike:

* every secret value the configuration holds (``secret_values``: the Event
  Socket and CDR passwords, the API token, the recording key, each customer's
  secrets, API keys, tokens and passwords, the database URL's password),
  replaced by ``***``; the list is renewed on each reload;
* whatever looks like a credential even if not configured: the password of a
  URL's userinfo (``scheme://user:***@host``), the value of an
  ``Authorization``-like header, and ``secret``/``token``/``password``/
  ``api_key``-like parameters (``secret=***``).

``configure`` installs one handler on the root logger and returns it; the
reload calls ``LogOutput.apply`` with the new settings.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

MASK = "***"
MIN_SECRET = 4  # shorter values would mask ordinary words
PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
FORMATS = ("plain", "json")
URL_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]*:)[^@/\s]+(?=@)")
AUTH_HEADER = re.compile(r"(?P<head>\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
                         r"(?:(?:basic|bearer|digest|token)\s+)?)[^\s\"',;]+", re.IGNORECASE)
SECRET_WORDS = ("secret", "token", "password", "passwd", "api_key", "api-key", "apikey")
SECRET_PARAM = re.compile(r"(?P<head>(?:secret|token|password|passwd|api[_\-]?key)[\w\-]*"
                          r"(?:=|[\"']\s*:\s*[\"']?))[^\s&\"',;)}]+", re.IGNORECASE)
# LogRecord's own attributes: anything else on a record is an extra the code passed.
STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class Redactor:
    """Masks the configured secret values and credential-like patterns."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        found = {s for s in secrets if s and len(s) >= MIN_SECRET}
        self.secrets = sorted(found, key=len, reverse=True)  # the longest first: no partial masks

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        lowered = text.lower()  # the patterns only run where their keyword is
        if "@" in text and "://" in text:
            text = URL_USERINFO.sub(lambda m: m["head"] + MASK, text)
        if "authorization" in lowered:
            text = AUTH_HEADER.sub(lambda m: m["head"] + MASK, text)
        if any(word in lowered for word in SECRET_WORDS):
            text = SECRET_PARAM.sub(lambda m: m["head"] + MASK, text)
        return text


class PlainFormatter(logging.Formatter):
    def __init__(self, redact: Redactor):
        super().__init__(PLAIN_FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """``{"time": ISO 8601 UTC, "level", "logger", "message", ...extras,
    "exception"}``, one line; every string redacted before it is encoded."""

    def __init__(self, redact: Redactor):
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        data = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                        + f".{int(record.msecs):03d}Z",
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in STANDARD_ATTRS and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(self._redacted(data), ensure_ascii=False, default=str)

    def _redacted(self, value):
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {str(k): self._redacted(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self._redacted(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.redact(str(value))


class LogOutput:
    """The root logger's one handler: its level, format and secrets."""

    def __init__(self, handler: logging.Handler, redact: Redactor):
        self.handler, self.redact = handler, redact
        self.format = ""

    def apply(self, level: str, fmt: str, secrets: Iterable[str]) -> None:
        self.redact.update(secrets)
        if fmt != self.format:
            self.handler.setFormatter(JsonFormatter(self.redact) if fmt == "json" else PlainFormatter(self.redact))
            self.format = fmt
        logging.getLogger().setLevel(level.upper())


def configure(level: str = "INFO", fmt: str = "plain", secrets: Iterable[str] = (),
              filename: str | None = None) -> LogOutput:
    """Log to stderr, or to ``filename`` (while the TUI owns the terminal)."""
    handler = logging.FileHandler(filename, encoding="utf-8") if filename else logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    output = LogOutput(handler, Redactor())
    output.apply(level, fmt, secrets)
    return output


def url_password(url: str) -> str:
    """The password in a URL's userinfo ("" when none)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return ""
    return unquote(password) if password else ""


def secret_values(settings, customers: Iterable = ()) -> list[str]:
    """Every secret value of a ``config.Settings`` and its parsed customers."""
    found = [settings.freeswitch.password, settings.http.api_token, settings.recordings.signing_key,
             settings.cdr.password, url_password(settings.storage.url), settings.simulator.password]
    for customer in customers:
        found += customer.secrets()
    return [s for s in found if s]
