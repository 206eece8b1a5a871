"""Access to the real FreeSWITCH recordings in ../shared/fixtures/freeswitch."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from esl_connector.esl.protocol import Event, is_event_frame, parse_capture, parse_frames

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


RECORDED_CALLER = "0904824242"


def with_caller(scenario: str, fmt: str, caller: str, recorded: str = RECORDED_CALLER) -> bytes:
    """The recording's event frames with every occurrence of the recorded
    caller number replaced by ``caller``, encoded as FreeSWITCH encodes a
    value in that format (URL-encoded in plain; JSON string escapes, raw
    UTF-8 and raw invalid bytes in json). ``caller`` may hold surrogate
    escapes ("\\udcff") for bytes that are not UTF-8."""
    from esl_connector.simulator.wire import url_encode

    if fmt == "plain":
        new = url_encode(caller).encode("ascii")
    else:
        new = json.dumps(caller, ensure_ascii=False)[1:-1].encode("utf-8", "surrogateescape")
    frames = [f for f in parse_frames(raw(scenario, fmt)) if is_event_frame(f)]
    out = []
    for frame in frames:
        body = frame.body.replace(recorded.encode("ascii"), new)
        out.append(b"Content-Length: %d\nContent-Type: %s\n\n" % (len(body), frame.content_type.encode()) + body)
    return b"".join(out)
