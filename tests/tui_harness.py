"""For the TUI tests: the connector side in a subprocess (tests/tui_backend.py),
and ways to read what the App shows and to wait for it."""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent


@dataclass
class Backend:
    api: str
    token: str
    extensions: list[str]
    process: subprocess.Popen
    flaky_endpoints: list[str] = field(default_factory=list)  # flaky's CRM, then its call-log receiver

    def get(self, path: str, **params):
        r = requests.get(f"{self.api}/api/v1{path}", params=params,
                         headers={"Authorization": f"Bearer {self.token}"}, timeout=5)
        r.raise_for_status()
        return r.json()

    def click_to_call(self, extension: str, customer: str = "demo", phone: str = "0904824242",
                      userfield: str = "") -> str:
        r = requests.get(f"{self.api}/wsapi/{customer}/click2call.php", timeout=5, params={
            "secret": "demo-click2call", "extension": extension, "phone": phone, "userfield": userfield})
        assert r.status_code == 200, r.text
        return r.json()["callid"]

    def command(self, **command) -> None:
        """One command to the backend (tests/tui_backend.py: ring an extension, switch the flaky CRM)."""
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def attempts(self, delivery_id) -> int:
        return len(self.get(f"/deliveries/{delivery_id}")["delivery"]["attempts"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_backend(db_path: Path) -> Backend:
    process = subprocess.Popen([sys.executable, str(HERE / "tui_backend.py"), str(db_path)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
    line = process.stdout.readline()  # the backend prints it once ready, or exits
    if not line:
        process.wait(timeout=5)
        raise RuntimeError(f"the TUI test backend did not start (exit status {process.returncode})")
    info = json.loads(line)
    backend = Backend(info["api"], info["token"], info["extensions"], process, info["flaky_endpoints"])
    wait_sync(lambda: sorted(e["extension"] for e in backend.get("/extensions")["extensions"]
                             if e["registered"]) == backend.extensions, what="every extension registered")
    return backend


def synchronous(test):
    """Run an ``async def`` test in its own event loop (Textual's Pilot is async)."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return run


def wait_sync(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def wait_for(pilot, predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition"):
    """Let the App run until ``predicate()`` is true (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cells(table, key: str) -> list[str]:
    """One row of a DataTable, as plain text."""
    return [str(cell) for cell in table.get_row(key)]


def rows(table) -> dict[str, list[str]]:
    """Every row of a DataTable by key, as plain text."""
    return {row.key.value: cells(table, row.key.value) for row in table.ordered_rows}


class Terminal:
    """A command on a pseudo-terminal, as a person at a terminal runs it."""

    def __init__(self, args: list[str], size: tuple[int, int] = (140, 40), env: dict | None = None):
        import fcntl
        import os
        import pty
        import struct
        import termios
        self._os = os
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=HERE.parent,
                                        env={**os.environ, "TERM": "xterm-256color", **(env or {})},
                                        start_new_session=True)
        os.close(slave)
        self.output = b""

    def expect(self, text: str, timeout: float = 20.0) -> None:
        """Read the screen's output until ``text`` appears in it."""
        import select
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} never appeared; the last output: {self.output[-600:]!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    self.output += self._os.read(self.master, 65536)
                except OSError:  # the process is gone and its end of the terminal closed
                    raise AssertionError(f"{text!r} never appeared before the end: "
                                         f"{self.output[-600:]!r}") from None

    def send(self, keys: str) -> None:
        self._os.write(self.master, keys.encode())

    def wait(self, timeout: float = 20.0) -> int:
        import select
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:  # keep reading: a full terminal buffer would block the process
                try:
                    self.output += self._os.read(self.master, 65536)
                except OSError:
                    pass
        return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._os.close(self.master)
