"""The Event Socket parser on every recorded byte stream, and on hostile input."""

import json

import pytest

from esl_connector.esl.protocol import (
    FrameParser,
    ProtocolError,
    is_event_frame,
    parse_event,
    parse_frames,
)

from recordings import FIXTURES, FORMATS, all_capture_files, events


@pytest.mark.parametrize("path", all_capture_files(), ids=lambda p: p.name)
def test_every_recording_frames_completely_and_every_event_parses(path):
    data = path.read_bytes()
    parser = FrameParser()
    frames = parser.feed(data)
    assert parser.buffered == 0, "no bytes left over: every frame was complete"
    assert frames[0].content_type == "auth/request"
    for frame in frames:
        if is_event_frame(frame):
            event = parse_event(frame)
            assert event.name and event.get("Core-UUID")


@pytest.mark.parametrize("path", all_capture_files(), ids=lambda p: p.name)
def test_frames_are_identical_whatever_the_read_boundaries(path):
    data = path.read_bytes()[:60000]
    whole = parse_frames(data)
    parser = FrameParser()
    pieces = []
    for i in range(0, len(data), 7):  # odd-sized reads split headers, bodies, UTF-8
        pieces += parser.feed(data[i:i + 7])
    assert pieces == whole


def test_plain_and_json_decode_to_the_same_values():
    """The two runs are different calls, so compare what must not differ:
    constant headers, decoding of reserved characters, multi-value arrays."""
    for scenario in ("inbound_answered", "recording", "click_to_call"):
        plain, js = events(scenario, "plain"), events(scenario, "json")
        for key in ("FreeSWITCH-IPv6", "Core-UUID", "FreeSWITCH-Hostname"):
            assert {e.get(key) for e in plain} == {e.get(key) for e in js}
        assert plain[0].get("FreeSWITCH-IPv6") == "fd00::2"
        creates = {fmt: [e for e in evs if e.name == "CHANNEL_CREATE"] for fmt, evs in (("p", plain), ("j", js))}
        for p, j in zip(creates["p"], creates["j"]):
            assert set(p.headers) == set(j.headers)
            assert p.get("Channel-Name").split("/")[:2] == j.get("Channel-Name").split("/")[:2]
    dp = {fmt: next(e.headers["variable_DP_MATCH"] for e in events("inbound_answered", fmt)
                    if "variable_DP_MATCH" in e.headers) for fmt in FORMATS}
    assert dp["plain"] == dp["json"] == ["19001234", "19001234"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_background_job_body_is_separate_from_headers(fmt):
    (job,) = [e for e in events("click_to_call", fmt) if e.name == "BACKGROUND_JOB"]
    assert job.body.startswith("+OK ") and job.body.endswith("\n")
    assert job.get("Job-Command") == "originate"
    assert job.get("Job-Command-Arg").startswith("{origination_uuid=")
    assert "+OK" not in job.get("Content-Length")


def test_auth_failure_recording():
    frames = parse_frames((FIXTURES / "auth_failure.esl").read_bytes())
    kinds = [f.content_type for f in frames]
    assert kinds == ["auth/request", "command/reply", "text/disconnect-notice"]
    assert frames[1].headers["Reply-Text"] == "-ERR invalid" and len(frames[2].body) == 67


def _plain_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def test_url_encoded_newline_in_a_value_cannot_forge_a_header():
    body = (b"Event-Name: CHANNEL_CREATE\nUnique-ID: u1\n"
            b"Caller-Caller-ID-Name: Evil%0AEvent-Name%3A%20CHANNEL_HANGUP_COMPLETE%0AUnique-ID%3A%20x\n\n")
    (frame,) = parse_frames(_plain_frame(body))
    event = parse_event(frame)
    assert event.name == "CHANNEL_CREATE" and event.uuid == "u1"
    assert event.get("Caller-Caller-ID-Name") == "Evil\nEvent-Name: CHANNEL_HANGUP_COMPLETE\nUnique-ID: x"


def test_json_value_with_newlines_stays_one_value():
    body = json.dumps({"Event-Name": "CHANNEL_CREATE", "Caller-Caller-ID-Name": "A\n\nEvent-Name: X"}).encode()
    frame = b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body
    event = parse_event(parse_frames(frame)[0])
    assert event.name == "CHANNEL_CREATE" and event.get("Caller-Caller-ID-Name") == "A\n\nEvent-Name: X"


def test_vietnamese_and_invalid_utf8_survive():
    name = "Nguyễn Văn A".encode()
    from urllib.parse import quote_from_bytes
    body = b"Event-Name: CUSTOM\nCaller-Caller-ID-Name: " + quote_from_bytes(name).encode() + b"\nX-Bad: %FF%FEok\n\n"
    event = parse_event(parse_frames(_plain_frame(body))[0])
    assert event.get("Caller-Caller-ID-Name") == "Nguyễn Văn A"
    assert event.get("X-Bad") == "\\xff\\xfeok"
    js = json.dumps({"Event-Name": "CUSTOM", "n": "Nguyễn Văn A"}, ensure_ascii=False).encode() + b""
    frame = b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(js) + js
    assert parse_event(parse_frames(frame)[0]).get("n") == "Nguyễn Văn A"


@pytest.mark.parametrize("data,reason", [
    (b"Content-Length: 99999999999\n\n", "exceeds"),
    (b"Content-Length: -5\n\n", "bad Content-Length"),
    (b"no colon here\n\n", "without ':'"),
    (b"X" * 70000, "header block exceeds"),
])
def test_broken_framing_is_a_protocol_error(data, reason):
    with pytest.raises(ProtocolError, match=reason):
        FrameParser().feed(data)


def test_truncated_frame_waits_for_more_bytes():
    parser = FrameParser()
    assert parser.feed(b"Content-Length: 10\nContent-Type: api/response\n\n+OK") == []
    (frame,) = parser.feed(b" done!\n")
    assert frame.text == "+OK done!\n"


def test_binary_garbage_json_event_is_a_protocol_error():
    frame = parse_frames(b"Content-Length: 4\nContent-Type: text/event-json\n\n\xff\x00{[")[0]
    with pytest.raises(ProtocolError):
        parse_event(frame)


def test_json_event_with_latin1_bytes_reads_like_the_plain_format():
    body = b'{"Event-Name":"CHANNEL_CREATE","Caller-Caller-ID-Name":"Jos\xe9","_body":"ok"}'
    frame = b"Content-Length: %d\nContent-Type: text/event-json\n\n" % len(body) + body
    event = parse_event(parse_frames(frame)[0])
    assert event.get("Caller-Caller-ID-Name") == "Jos\\xe9" and event.body == "ok"


def test_frames_completed_before_broken_bytes_are_not_lost():
    good = b"Content-Type: command/reply\nReply-Text: +OK\n\n"
    with pytest.raises(ProtocolError) as info:
        FrameParser().feed(good + b"Content-Length: 12x\n\n")
    assert [f.headers["Reply-Text"] for f in info.value.frames] == ["+OK"]


@pytest.mark.parametrize("scenario", ["inbound_answered", "click_to_call", "recording", "register_unregister"])
def test_the_same_event_in_plain_and_json_parses_identically(scenario):
    """Each recorded JSON event, re-encoded the way FreeSWITCH writes plain
    events (URL-encoding, ARRAY:: lists, inner Content-Length body), parses
    to exactly the same Event."""
    from esl_connector.simulator.wire import encode_event
    for event in events(scenario, "json"):
        (frame,) = parse_frames(encode_event(event.headers, event.body, "plain"))
        again = parse_event(frame)
        assert again.headers == event.headers and again.body == event.body, event.name


def test_the_fast_and_the_lenient_json_decoders_read_every_recorded_event_alike(monkeypatch):
    """orjson reads valid UTF-8 bodies; the standard library takes the others.
    Forced down the lenient path, every recorded event parses the same."""
    import orjson

    from esl_connector.esl import protocol
    bodies = [f.body for path in all_capture_files() if ".json." in path.name
              for f in parse_frames(path.read_bytes()) if f.content_type == "text/event-json"]
    fast = [protocol.parse_json_event(b) for b in bodies]

    def refuse(_body):
        raise orjson.JSONDecodeError("forced", "", 0)
    monkeypatch.setattr(protocol.orjson, "loads", refuse)
    assert len(bodies) > 100
    assert [protocol.parse_json_event(b) for b in bodies] == fast
