"""The declared headers are looked up in the order FreeSWITCH sends them,
learned from the first event-json body: the order changes the decoder's
speed, never what it decodes."""

from __future__ import annotations

import pytest

from esl_connector.calls.tracker import Tracker
from esl_connector.esl.protocol import ProtocolError, is_event_frame, parse_frames
from esl_connector.esl.selective import HeaderSelection, sent_order

from recordings import all_capture_files

JSON_CAPTURES = [p for p in all_capture_files() if p.name.endswith(".json.esl")]
NAMES = Tracker().event_headers() | {"Core-UUID", "Event-Name", "FreeSWITCH-Hostname", "Job-UUID"}


def test_the_order_is_the_bodys_then_the_names_it_lacks_sorted():
    body = b'{"Event-Name":"X","Zeta":"1","Core-UUID":"u","Alpha":"2","_body":"b"}'
    assert sent_order(frozenset({"Core-UUID", "Event-Name", "Unique-ID", "Answer-State"}), body) == [
        "Event-Name", "Core-UUID", "_body", "Answer-State", "Unique-ID"]
    assert sent_order(frozenset({"B", "A"}), b"not json") == ["A", "B", "_body"]
    assert sent_order(frozenset({"B", "A"}), b'["A", "B"]') == ["A", "B", "_body"]


def decoded(selection, frames):
    out = []
    for frame in frames:
        try:
            event = selection.parse_event(frame)
        except ProtocolError as exc:
            out.append(("error", str(exc)))
            continue
        out.append((event.headers, event.body, event.undecoded is not None))
    return out


@pytest.mark.parametrize("path", JSON_CAPTURES, ids=lambda p: p.name)
def test_events_decode_the_same_whatever_body_taught_the_order(path):
    frames = [f for f in parse_frames(path.read_bytes()) if is_event_frame(f)]
    garbage = parse_frames(b"Content-Length: 7\nContent-Type: text/event-json\n\n{broken")[0]
    learned = HeaderSelection(NAMES)
    taught_by_garbage = HeaderSelection(NAMES)
    with pytest.raises(ProtocolError):
        taught_by_garbage.parse_event(garbage)  # the first body is unreadable: names stay sorted
    taught_by_last = HeaderSelection(NAMES)
    taught_by_last.parse_event(frames[-1])
    expected = decoded(learned, frames)
    assert any(partial for _, _, partial in expected), "the declared headers were decoded on their own"
    assert decoded(taught_by_garbage, frames) == expected
    assert decoded(taught_by_last, frames) == expected
