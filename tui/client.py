"""The TUI's data source: the connector's status API over HTTP (httpx, async).

Every method returns the API's JSON as plain dicts and lists, or raises
``SourceError`` with a line an operator can act on. Anything with the same
methods can stand in for it (the snapshot tests pass fixed data).
"""

from __future__ import annotations

import os
from typing import Any, Protocol
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = httpx.Timeout(5.0, connect=2.0)


class SourceError(Exception):
    """The status API could not answer; ``str()`` says why in one line."""

    def __init__(self, message: str, code: str = "", status: int | None = None):
        super().__init__(message)
        self.code, self.status = code, status


class DataSource(Protocol):
    url: str

    async def health(self) -> dict: ...
    async def metrics(self, minutes: int = 30) -> dict: ...
    async def extensions(self) -> list[dict]: ...
    async def calls(self, active: bool | None = None, limit: int = 100) -> list[dict]: ...
    async def call(self, callid: str) -> dict: ...
    async def deliveries(self, status: str | None = None, limit: int = 100) -> list[dict]: ...
    async def delivery(self, key: int | str) -> dict: ...
    async def delivery_stats(self) -> list[dict]: ...
    async def endpoint_stats(self) -> list[dict]: ...
    async def retry(self, key: int | str) -> dict: ...
    async def retry_dead(self, customer: str) -> int: ...
    async def close(self) -> None: ...


class StatusClient:
    """``DataSource`` over HTTP: ``url`` is the connector's ``http://host:port``;
    ``token`` its ``http.api_token`` (None when it has none: loopback only)."""

    def __init__(self, url: str = DEFAULT_URL, token: str | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")) or "?" in self.url:
            raise ValueError(f"not an http(s)://HOST:PORT address: {url!r}")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            self._http = httpx.AsyncClient(base_url=f"{self.url}/api/v1", headers=headers,
                                           timeout=TIMEOUT, transport=transport)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not an http(s)://HOST:PORT address: {url!r} ({exc})") from None

    async def _request(self, method: str, path: str, params: dict | None = None) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(method, path, params=params)
        except httpx.TimeoutException:
            raise SourceError(f"{self.url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach the connector at {self.url}: {_reason(exc)}") from None
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"{self.url} answered HTTP {response.status_code} without JSON: "
                              "is it the connector's HTTP port?", status=response.status_code) from None
        if response.status_code >= 400:
            code = body.get("code", "") if isinstance(body, dict) else ""
            message = body.get("message", "") if isinstance(body, dict) else ""
            raise SourceError(f"HTTP {response.status_code} {code}: {message}".strip(), code,
                              response.status_code)
        return body

    async def health(self) -> dict:
        return await self._request("GET", "/health")

    async def metrics(self, minutes: int = 30) -> dict:
        return await self._request("GET", "/metrics", {"minutes": minutes})

    async def extensions(self) -> list[dict]:
        return (await self._request("GET", "/extensions"))["extensions"]

    async def calls(self, active: bool | None = None, limit: int = 100) -> list[dict]:
        flag = None if active is None else ("true" if active else "false")
        return (await self._request("GET", "/calls", {"active": flag, "limit": limit}))["calls"]

    async def call(self, callid: str) -> dict:
        return await self._request("GET", f"/calls/{quote(callid, safe='')}")

    async def deliveries(self, status: str | None = None, limit: int = 100) -> list[dict]:
        body = await self._request("GET", "/deliveries", {"status": status, "limit": limit})
        return body["deliveries"]

    async def delivery(self, key: int | str) -> dict:
        return (await self._request("GET", f"/deliveries/{quote(str(key), safe='')}"))["delivery"]

    async def delivery_stats(self) -> list[dict]:
        return (await self._request("GET", "/deliveries/stats"))["customers"]

    async def endpoint_stats(self) -> list[dict]:
        return (await self._request("GET", "/deliveries/endpoints"))["endpoints"]

    async def retry(self, key: int | str) -> dict:
        return (await self._request("POST", f"/deliveries/{quote(str(key), safe='')}/retry"))["delivery"]

    async def retry_dead(self, customer: str) -> int:
        return (await self._request("POST", f"/customers/{quote(customer, safe='')}/retry-dead"))["retried"]

    async def close(self) -> None:
        await self._http.aclose()


def _reason(exc: BaseException) -> str:
    """The operating system's words when there are some ("connection refused")."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and (seen.errno or seen.strerror):
            words = os.strerror(seen.errno) if seen.errno else seen.strerror
            return words[:1].lower() + words[1:]
        seen = seen.__cause__ or seen.__context__
    return str(exc).strip() or type(exc).__name__
