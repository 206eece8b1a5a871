"""Decoding only the event headers the tracker reads (``esl.selective``,
``calls.event_headers``): on every real recording, the tracker sees exactly
what it sees with whole events, and never reads a header it did not declare."""

from __future__ import annotations

import pytest

from esl_connector.calls.tracker import Tracker
from esl_connector.calls.tracker_settings import TrackerSettings
from esl_connector.esl.protocol import ProtocolError, is_event_frame, parse_event, parse_frames
from esl_connector.esl.selective import HeaderSelection

from recordings import all_capture_files

JSON_CAPTURES = [p for p in all_capture_files() if p.name.endswith(".json.esl")]
SETTINGS = {
    "defaults": TrackerSettings(),
    "other userfield sources": TrackerSettings(userfield_variables=("crm_ref", "crm_userfield"),
                                               userfield_header="X-CRM-Ref"),
}


def frames(path):
    return [f for f in parse_frames(path.read_bytes()) if is_event_frame(f)]


def event_json(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body


def one_frame(body: bytes):
    return parse_frames(event_json(body))[0]


@pytest.mark.parametrize("settings", SETTINGS.values(), ids=SETTINGS.keys())
@pytest.mark.parametrize("path", JSON_CAPTURES, ids=lambda p: p.name)
def test_tracker_on_declared_headers_gives_what_whole_events_give(path, settings):
    whole_tracker, partial_tracker = Tracker(settings), Tracker(settings)
    selection = HeaderSelection(partial_tracker.event_headers())
    for frame in frames(path):
        whole, partial = parse_event(frame), selection.parse_event(frame)
        assert partial.undecoded is not None  # decoded for the declared names only
        assert partial_tracker.handle(partial) == whole_tracker.handle(whole)
        assert partial.undecoded is not None, f"the tracker read an undeclared header of {whole.name}"
    assert partial_tracker.calls.calls.keys() == whole_tracker.calls.calls.keys()


@pytest.mark.parametrize("path", JSON_CAPTURES, ids=lambda p: p.name)
def test_every_header_reads_the_same_declared_or_not(path):
    selection = HeaderSelection(Tracker().event_headers())
    for frame in frames(path):
        whole = parse_event(frame)
        for name in (*selection.names, *whole.headers, "No-Such-Header"):
            partial = selection.parse_event(frame)
            assert partial.get(name, "?") == whole.get(name, "?"), name
        assert partial.undecoded is None and partial == whole  # the last read was undeclared: decoded whole
        assert selection.parse_event(frame).body == whole.body


def test_an_undeclared_header_decodes_the_whole_event_once():
    event = HeaderSelection({"Event-Name"}).parse_event(
        one_frame(b'{"Event-Name":"CHANNEL_ANSWER","Unique-ID":"u1","variable_x":["a","b"]}'))
    assert event.headers == {"Event-Name": "CHANNEL_ANSWER"}
    assert event.get("Caller-Caller-ID-Number") == ""  # declared by nobody, absent: read as absent...
    assert event.undecoded is None  # ...after decoding the whole body
    assert event.uuid == "u1" and event.get("variable_x") == "b" and event.headers["variable_x"] == ["a", "b"]


def test_bodies_read_differently_go_to_the_whole_decoder():
    selection = HeaderSelection({"Event-Name", "Caller-Caller-ID-Number", "variable_n"})
    # Latin-1 bytes in a declared value: escaped as the whole decoder escapes them.
    latin = one_frame(b'{"Event-Name":"CHANNEL_CREATE","Caller-Caller-ID-Number":"Ren\xe9"}')
    assert selection.parse_event(latin) == parse_event(latin)
    assert selection.parse_event(latin).get("Caller-Caller-ID-Number") == "Ren\\xe9"
    # ...in an undeclared one: the declared values are decoded alone, the rest on demand.
    elsewhere = one_frame(b'{"Event-Name":"CHANNEL_CREATE","Caller-Caller-ID-Name":"Ren\xe9"}')
    event = selection.parse_event(elsewhere)
    assert event.undecoded is not None and event.name == "CHANNEL_CREATE"
    assert event.get("Caller-Caller-ID-Name") == "Ren\\xe9" and event == parse_event(elsewhere)
    # A declared value that is not a string: converted as the whole decoder converts it.
    number = one_frame(b'{"Event-Name":"X","variable_n":12345678901234567890123}')
    assert selection.parse_event(number) == parse_event(number)
    assert selection.parse_event(number).undecoded is None
    # Not JSON, not an object: the same clear error.
    for bad in (b'{"Event-Name":"X",', b'["Event-Name"]'):
        with pytest.raises(ProtocolError) as whole_error:
            parse_event(one_frame(bad))
        with pytest.raises(ProtocolError) as partial_error:
            selection.parse_event(one_frame(bad))
        assert str(partial_error.value) == str(whole_error.value)


def test_the_event_body_and_plain_events_are_always_whole():
    selection = HeaderSelection({"Job-UUID"})
    job = one_frame(b'{"Event-Name":"BACKGROUND_JOB","Job-UUID":"j1","_body":"-ERR USER_BUSY\\n"}')
    assert selection.parse_event(job).body == "-ERR USER_BUSY\n"
    plain = parse_frames(b"Content-Length: 42\nContent-Type: text/event-plain\n\n"
                         b"Event-Name: CHANNEL_CREATE\nUnique-ID: u1\n\n")[0]
    assert selection.parse_event(plain) == parse_event(plain)
    assert selection.parse_event(plain).undecoded is None


def test_a_reloaded_userfield_header_is_declared():
    tracker = Tracker(TrackerSettings(userfield_header="X-Userfield"))
    assert "variable_sip_h_X-Userfield" in tracker.event_headers()
    tracker.calls.use_userfield_header("X-CRM-Ref")
    assert "variable_sip_h_X-CRM-Ref" in tracker.event_headers()
    assert "variable_sip_h_X-Userfield" not in tracker.event_headers()
