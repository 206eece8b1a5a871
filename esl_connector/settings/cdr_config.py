"""``[cdr]``: FreeSWITCH's CDRs (mod_json_cdr) as a second source of truth for
ended calls (docs/cdr.md). The password may come from ``ESL_CONNECTOR_CDR_PASSWORD``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

CDR_PASSWORD_MIN_LENGTH = 12
CDR_MAX_BODY_LIMIT = 16 * 1024 * 1024
CDR_RETENTION_MIN = 86400.0  # a day: FreeSWITCH's retries and a connector outage stay well inside


@dataclass(slots=True)
class CdrSettings:
    http: bool = False                  # accept mod_json_cdr's POSTs at /api/v1/cdr
    username: str = "freeswitch"        # HTTP Basic credentials: json_cdr.conf.xml's cred = "user:password"
    password: str = field(default="", repr=False)  # or ESL_CONNECTOR_CDR_PASSWORD
    directories: list[str] = field(default_factory=list)  # log-dir / err-log-dir, as the connector sees them
    scan_interval: float = 30.0         # seconds between directory scans; 0 = only at start
    delete_processed: bool = False      # delete a CDR file once it is stored (else it is only remembered)
    complete_after: float = 10.0        # seconds to wait for a call's missing CDR legs
    recording_variables: list[str] = field(default_factory=lambda: ["recording_file", "record_file_path"])
    max_body: int = 1024 * 1024         # bytes; a POST larger than this is refused (413)
    retention: float = 2592000.0        # 30 days: forget CDR legs and files older than this; 0 = keep

    @property
    def enabled(self) -> bool:
        return self.http or bool(self.directories)


def validate_cdr(c: CdrSettings, problems: list[str]) -> None:
    """Config problems as 'key: why'."""
    if c.http:
        if len(c.password) < CDR_PASSWORD_MIN_LENGTH:
            problems.append(f"cdr.password: at least {CDR_PASSWORD_MIN_LENGTH} characters are needed "
                            "with cdr.http = true (or set ESL_CONNECTOR_CDR_PASSWORD)")
        if not c.username or ":" in c.username or any(ch.isspace() for ch in c.username):
            problems.append("cdr.username: must be non-empty, without ':' or spaces")
    for index, directory in enumerate(c.directories):
        if not os.path.isabs(directory):
            problems.append(f"cdr.directories[{index}]: must be an absolute path, not {directory!r}")
    if c.scan_interval < 0:
        problems.append("cdr.scan_interval: must be >= 0 (0 scans only at start)")
    if not 0 <= c.complete_after <= 3600:
        problems.append("cdr.complete_after: must be between 0 and 3600 seconds")
    if not 1024 <= c.max_body <= CDR_MAX_BODY_LIMIT:
        problems.append(f"cdr.max_body: must be between 1024 and {CDR_MAX_BODY_LIMIT} bytes")
    if c.retention < 0 or 0 < c.retention < CDR_RETENTION_MIN:
        problems.append(f"cdr.retention: must be 0 (keep every CDR row) or at least {CDR_RETENTION_MIN:.0f} "
                        "seconds (older CDR files are skipped unread)")
    if any(not name or not name.replace("_", "").isalnum() for name in c.recording_variables):
        problems.append("cdr.recording_variables: channel variable names (letters, digits, _)")
