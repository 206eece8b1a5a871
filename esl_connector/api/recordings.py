"""Call recordings: the signed links the call log carries, and serving them.

A call log's ``recording`` is the file path FreeSWITCH reported. The CRM gets
a URL instead, made at delivery time (every attempt signs a fresh link, so a
retry days later still carries a working one)::

    {http.public_url}/recordings/{token}
    token = b64url("{expiry}|{path relative to the recordings directory}")
            + "." + b64url(HMAC-SHA256(key, DOMAIN + that payload))

The MAC covers the path and the expiry, so a token opens exactly one file
until it expires; nothing is stored per link. A customer with
``recordings_base_url`` (a reverse proxy serves the files) gets
``{base}/{relative path}`` and no token. Serving answers 403 for a forged or
malformed token, 410 for an expired one, 404 for a file that is missing or
(after resolving symlinks) outside the directory; no answer names a path.
See docs/http-api.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.utils import send_file

from ..settings.config import RECORDING_KEY_MIN_BYTES as MIN_KEY_BYTES
from ..settings.config import RECORDING_URL_LIFETIME as DEFAULT_LIFETIME
from ..settings.config import RecordingSettings
from .server import ApiError, Route

log = logging.getLogger(__name__)

DOMAIN = b"esl-connector/recording/v1\n"  # what the MAC is for: never valid as another signature
CONTENT_TYPES = {
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg",
    ".opus": "audio/ogg", ".flac": "audio/flac", ".m4a": "audio/mp4", ".aac": "audio/aac",
    ".gsm": "audio/x-gsm", ".webm": "audio/webm", ".mp4": "video/mp4",
}
FALLBACK_TYPE = "application/octet-stream"


class RecordingError(Exception):
    """The recordings cannot be set up (unreadable key file...)."""


def load_signing_key(r: RecordingSettings) -> bytes:
    """``signing_key`` if set, else the key file's content, creating the file
    with a random key the first time (so links survive restarts)."""
    if r.signing_key:
        return r.signing_key.encode("utf-8")
    path = Path(r.key_file)
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key + b"\n")
        except FileExistsError:  # another process created it first: use theirs
            key = path.read_bytes().strip()
        except OSError as exc:
            raise RecordingError(f"cannot create the recording key file {path}: {exc.strerror}; "
                                 "create it, or set recordings.signing_key") from None
        log.info("created a new recording signing key in %s", path)
    except OSError as exc:
        raise RecordingError(f"cannot read the recording key file {path}: {exc.strerror}") from None
    if len(key) < MIN_KEY_BYTES:
        raise RecordingError(f"the recording key in {path} is shorter than {MIN_KEY_BYTES} bytes")
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _relative(path: str) -> str | None:
    """A safe relative path to a file (no '..', not absolute, not '.', no NUL), or None."""
    if not path or "\x00" in path or "\\" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or not pure.parts or any(part in ("..", "") for part in pure.parts):
        return None
    return pure.as_posix()


class Recordings:
    """Resolved settings: signs links and finds the file a token names."""

    def __init__(self, directory: str, key: bytes, lifetime: float = DEFAULT_LIFETIME,
                 public_url: str = "", freeswitch_directory: str = ""):
        self.root = Path(directory).resolve() if directory else None
        self.fs_root = PurePosixPath(os.path.normpath(freeswitch_directory or directory or "/"))
        self.key, self.lifetime = key, lifetime
        self.public_url = public_url.rstrip("/")

    @classmethod
    def from_settings(cls, r: RecordingSettings, public_url: str) -> Recordings:
        """Raises RecordingError (key file) when recordings are configured."""
        key = load_signing_key(r) if r.directory else b""
        return cls(r.directory, key, r.url_lifetime, public_url, r.freeswitch_directory)

    @property
    def enabled(self) -> bool:
        return self.root is not None and bool(self.key)

    def relative_path(self, path: str) -> str | None:
        """FreeSWITCH's path -> relative to the recordings directory, None if outside."""
        if not path or "\x00" in path:
            return None
        pure = PurePosixPath(os.path.normpath(path))
        if not pure.is_absolute():
            return _relative(pure.as_posix())
        try:
            return _relative(pure.relative_to(self.fs_root).as_posix())
        except ValueError:
            return None

    # -- links ----------------------------------------------------------------------

    def token(self, relative: str, expires: int) -> str:
        payload = f"{expires}|{relative}".encode()
        return f"{_b64(payload)}.{_b64(hmac.new(self.key, DOMAIN + payload, hashlib.sha256).digest())}"

    def url_for(self, path: str, customer=None, now: float | None = None) -> str:
        """The call log's ``recording`` for FreeSWITCH's ``path`` ("" when none
        or not servable). ``webhooks.build_plan``'s ``recording_url`` callable."""
        if not path or not self.enabled:
            return ""
        relative = self.relative_path(path)
        if relative is None:
            log.warning("recording %s is outside the recordings directory: not linked", path)
            return ""
        base = getattr(customer, "recordings_base_url", "") if customer is not None else ""
        if base:
            return f"{base.rstrip('/')}/{quote(relative)}"
        expires = int((time.time() if now is None else now) + self.lifetime)
        return f"{self.public_url}/recordings/{self.token(relative, expires)}"

    # -- serving --------------------------------------------------------------------

    def verify(self, token: str, now: float) -> str:
        """The relative path a token names; ApiError 403 (forged) / 410 (expired) / 404."""
        if not self.enabled:
            raise ApiError(404, "not_found", "recordings are not served here")
        try:
            payload_b64, mac_b64 = token.split(".")
            payload, mac = _unb64(payload_b64), _unb64(mac_b64)
        except (ValueError, TypeError):
            raise ApiError(403, "invalid_token", "this recording link is not valid") from None
        expected = hmac.new(self.key, DOMAIN + payload, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise ApiError(403, "invalid_token", "this recording link is not valid")
        expiry, _, relative = payload.decode("utf-8", "replace").partition("|")
        if not expiry.isdigit():
            raise ApiError(403, "invalid_token", "this recording link is not valid")
        if int(expiry) < now:
            raise ApiError(410, "link_expired", "this recording link has expired; "
                                                "ask for the call log to be sent again")
        safe = _relative(relative)
        if safe is None:
            raise ApiError(404, "recording_not_found", "no such recording")
        return safe

    def file_for(self, relative: str) -> Path:
        """The real file (symlinks resolved) inside the directory; ApiError 404 otherwise."""
        try:
            real = (self.root / relative).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, a symlink loop...
            raise ApiError(404, "recording_not_found", "no such recording") from None
        if not real.is_relative_to(self.root) or not real.is_file():
            raise ApiError(404, "recording_not_found", "no such recording")
        return real


def recording_url(path: str, customer, settings: Recordings, now: float) -> str:
    """The URL a CRM fetches ``path`` from (see ``Recordings.url_for``)."""
    return settings.url_for(path, customer, now)


def recordings_of(ctx) -> Recordings:
    """The context's ``Recordings`` (built once from ``ctx.settings`` and kept
    in ``ctx.extras["recordings"]``; the app wiring may put its own there)."""
    found = ctx.extras.get("recordings")
    if found is None:
        settings = getattr(ctx.settings, "recordings", None) or RecordingSettings()
        http = getattr(ctx.settings, "http", None)
        found = Recordings.from_settings(settings, getattr(http, "public_url", "") or "")
        ctx.extras["recordings"] = found
    return found


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), FALLBACK_TYPE)


def serve_recording(request, ctx, token: str):
    recordings = recordings_of(ctx)
    file = recordings.file_for(recordings.verify(token, ctx.clock()))
    try:
        response = send_file(file, request.environ, mimetype=content_type(file), conditional=True,
                             download_name=file.name, max_age=0)
    except RequestedRangeNotSatisfiable:
        raise ApiError(416, "range_not_satisfiable", "the requested range is outside the recording",
                       {"Content-Range": f"bytes */{file.stat().st_size}"}) from None
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def routes() -> list[Route]:
    return [Route("/recordings/<token>", serve_recording, ("GET",))]
