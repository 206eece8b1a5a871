"""Access to the real FreeSWITCH recordings in ../shared/fixtures/freeswitch."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from esl_connector.esl.protocol import Event, parse_capture

FIXTURES = Path(os.environ.get(
    "ESL_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "freeswitch"))
CALL_SCENARIOS = (
    "inbound_answered", "inbound_no_answer", "inbound_caller_cancel", "inbound_busy",
    "outbound_from_extension", "click_to_call", "recording", "api_responses",
)
FORMATS = ("plain", "json")


def path(scenario: str, fmt: str) -> Path:
    return FIXTURES / f"{scenario}.{fmt}.esl"


@cache
def raw(scenario: str, fmt: str) -> bytes:
    return path(scenario, fmt).read_bytes()


def events(scenario: str, fmt: str) -> list[Event]:
    return parse_capture(raw(scenario, fmt))


def all_capture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.esl"))
