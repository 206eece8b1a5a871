"""Reads the CDR files mod_json_cdr writes (``log-dir``, ``err-log-dir``).

Files are ``<uuid>.cdr.json`` (``a_<uuid>.cdr.json`` for A-legs with
``prefix-a-leg=true``), in the directory itself or, with ``rotate=true``, in
its dated sub-directories. Each is read once: its path, size and
modification time are remembered in ``cdr_files``, so a restart does not
read it again, and a file rewritten with other content is. A file is never
deleted unless ``cdr.delete_processed`` is set. A file that does not parse
yet may still be being written (mod_json_cdr writes in place): it is
retried until it is ``SETTLE_SECONDS`` old, then remembered as rejected.
With ``cdr.retention``, a file modified longer ago than that is skipped
unread: its ``cdr_files`` row may have been forgotten (``retention.py``).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import gevent

from storage import cdr_store
from storage.db import connected

from ..calls.cdr import CdrError
from .decode import decode_file
from .service import CdrService

log = logging.getLogger(__name__)

SUFFIX = ".cdr.json"
SETTLE_SECONDS = 10.0


@dataclass(slots=True)
class ScanResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    waiting: int = 0  # unparsable but recent: retried at the next scan
    too_old: int = 0  # modified before cdr.retention: skipped unread


def cdr_files(directory: str) -> list[str]:
    """CDR files in ``directory`` and its sub-directories (one level, ``rotate``), oldest first."""
    found: list[tuple[float, str]] = []
    try:
        entries = list(os.scandir(directory))
    except OSError as exc:
        log.warning("cannot read the CDR directory %s: %s", directory, exc.strerror or exc)
        return []
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                found += [(os.stat(p).st_mtime, p) for p in _files_in(entry.path)]
            elif entry.name.endswith(SUFFIX) and entry.is_file(follow_symlinks=False):
                found.append((entry.stat().st_mtime, entry.path))
        except OSError:
            continue  # removed meanwhile
    return [path for _, path in sorted(found)]


def _files_in(directory: str) -> list[str]:
    with os.scandir(directory) as entries:
        return [e.path for e in entries if e.name.endswith(SUFFIX) and e.is_file(follow_symlinks=False)]


class CdrScanner:
    def __init__(self, service: CdrService, directories: list[str], interval: float = 30.0,
                 delete_processed: bool = False, max_bytes: int = 1024 * 1024, retention: float = 0.0):
        self.service, self.directories, self.interval = service, list(directories), interval
        self.delete_processed, self.max_bytes, self.retention = delete_processed, max_bytes, retention
        self._greenlet: gevent.Greenlet | None = None
        self._known: dict[str, tuple[int, float]] | None = None  # read once from cdr_files
        self._too_old = 0  # files skipped by the last scan (logged when it changes)
        self.scans = 0

    def scan(self) -> ScanResult:
        result = ScanResult()
        # One connection for the whole scan: each file takes several
        # statements, and a new PostgreSQL connection per statement (~10 ms
        # each) made a start-up scan, which a resync waits for, 5 times slower.
        with connected(self.service.db):
            if self._known is None:
                self._known = cdr_store.known_files(self.service.db)
            oldest = time.time() - self.retention if self.retention > 0 else 0.0
            for directory in self.directories:
                for path in cdr_files(directory):
                    self._one(path, result, oldest)
        self.scans += 1
        if result.accepted or result.rejected:
            log.info("CDR files: %d stored, %d already known, %d rejected", result.accepted,
                     result.duplicates, result.rejected)
        if result.too_old != self._too_old:
            self._too_old = result.too_old
            log.info("CDR files: %d modified more than cdr.retention (%.0f s) ago, skipped unread",
                     result.too_old, self.retention)
        return result

    def forget_older_than(self, cutoff: float) -> int:
        """Drop the remembered files modified before ``cutoff`` (their rows
        were purged; ``scan`` skips such files unread); how many."""
        if not self._known:
            return 0
        old = [path for path, (_, mtime) in self._known.items() if mtime < cutoff]
        for path in old:
            del self._known[path]
        return len(old)

    def _one(self, path: str, result: ScanResult, oldest: float) -> None:
        try:
            stat = os.stat(path)
        except OSError:
            return
        if self._known.get(path) == (stat.st_size, stat.st_mtime):
            self._delete(path)
            return
        if stat.st_mtime < oldest:
            result.too_old += 1
            return
        try:
            if stat.st_size > self.max_bytes:
                raise CdrError(f"larger than {self.max_bytes} bytes")
            with open(path, "rb") as handle:
                outcome = self.service.accept(decode_file(handle.read(self.max_bytes + 1)), "file")
        except CdrError as exc:
            if time.time() - stat.st_mtime < SETTLE_SECONDS:
                result.waiting += 1
                return
            result.rejected += 1
            log.warning("CDR file %s rejected: %s", path, exc)
            self._remember(path, stat, "rejected", str(exc))
            return
        except OSError as exc:
            log.warning("cannot read the CDR file %s: %s", path, exc.strerror or exc)
            return
        result.accepted += outcome == "accepted"
        result.duplicates += outcome != "accepted"
        self._remember(path, stat, outcome)
        self._delete(path)

    def _remember(self, path: str, stat: os.stat_result, outcome: str, error: str = "") -> None:
        cdr_store.remember_file(self.service.db, path, stat.st_size, stat.st_mtime, outcome, error)
        self._known[path] = (stat.st_size, stat.st_mtime)

    def _delete(self, path: str) -> None:
        if not self.delete_processed:
            return
        try:
            os.unlink(path)
        except OSError as exc:
            log.warning("cannot delete the processed CDR file %s: %s", path, exc.strerror or exc)

    # -- the periodic scan --------------------------------------------------
    def start(self) -> CdrScanner:
        self._greenlet = gevent.spawn(self._run)
        self._greenlet.link_exception(lambda g: log.error("CDR scanner died: %s", g.exception))
        return self

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill()
            self._greenlet = None

    def _run(self) -> None:
        """Scans every ``interval`` after the first (which ``start``'s caller made)."""
        while self.interval > 0:
            gevent.sleep(self.interval)
            try:
                self.scan()
            except Exception:  # a database hiccup: the next scan retries
                log.exception("CDR scan failed")
