"""wire.py against the real FreeSWITCH recordings and the client's own parser."""

from __future__ import annotations

import json
import random
from urllib.parse import unquote_to_bytes

import pytest

from esl_connector.esl.protocol import Frame, is_event_frame, parse_event, parse_frames
from esl_connector.simulator import wire

from recordings import FIXTURES, all_capture_files

TRICKY = {
    "Event-Name": "CHANNEL_CREATE",
    "Caller-Caller-ID-Name": "Nguyễn Văn A",
    "variable_note": "line one\nline two\r\nKey: forged header",
    "variable_pct": "100% sure, %zz, 50%",
    "variable_colon": "a: b:c",
    "variable_json": '{"a": [1, "/x\\\\y"], "t": "\t"}',
    "variable_url": "sip:101@127.0.0.1:5060;transport=udp?x=1&y=2#frag",
    "variable_misc": "~_.!$'()*,-/+|^`[]<>=@;\x7f",
    "variable_DP_MATCH": ["19001234", "19001234"],
    "variable_one": ["only"],
    "variable_holes": ["a", "", "ARRAY::x"],  # "|:" inside an element is ambiguous in FS too
    "variable_emoji": "☎️ gọi lại 🙂",
}
BODY = "+OK Nguyễn Văn A\nline 2: x\n"


def roundtrip(headers, body, fmt):
    frames = parse_frames(wire.encode_event(headers, body, fmt))
    assert len(frames) == 1
    return parse_event(frames[0])


def expected(headers, body):
    """What FreeSWITCH would carry: no empty headers, plus Content-Length with a body."""
    out = {k: v for k, v in headers.items() if v not in ("", [])}
    if body:
        out["Content-Length"] = str(len(body.encode()))
    return out


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_roundtrip_tricky_values(fmt):
    for body in ("", BODY):
        event = roundtrip(TRICKY, body, fmt)
        assert event.headers == expected(TRICKY, body)
        assert event.body == body


@pytest.mark.parametrize("fmt", ["plain", "json"])
def test_roundtrip_random_values(fmt):
    rng = random.Random(20261125)
    alphabet = "aZ09 :%/@=&+#?{}|[]\\\"'\n\r\t~_.-,()*!$<>^`;ễăđ☎\x01\x7f"

    def text():
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        # switch_url_encode keeps "%XX" as is (see test_percent_hex_is_not_double_encoded),
        # and "|:" inside a list element cannot be told from the separator.
        return value.replace("%", "%z").replace("|:", "|;")

    for _ in range(300):
        headers = {f"H-{i}": text() for i in range(rng.randint(1, 8))}
        headers["L"] = [text() for _ in range(rng.randint(1, 3))]
        body = text() if rng.random() < 0.5 else ""
        event = roundtrip(headers, body, fmt)
        assert (event.headers, event.body) == (expected(headers, body), body)


def test_content_length_counts_utf8_bytes():
    body = "Nguyễn Văn A"
    for fmt in ("plain", "json"):
        data = wire.encode_event({"Event-Name": "CUSTOM"}, body, fmt)
        head, _, payload = data.partition(b"\n\n")
        assert head.split(b"\n")[0] == b"Content-Length: %d" % len(payload)
        assert len(payload) > len(payload.decode())  # multi-byte characters
    plain = wire.plain_event_body({"Event-Name": "X"}, body)
    assert plain.endswith(b"Content-Length: %d\n\n" % len(body.encode()) + body.encode())


def test_plain_layout_matches_switch_event_serialize():
    data = wire.encode_event({"Event-Name": "API", "API-Command": "status"})
    assert data == (b"Content-Length: 37\nContent-Type: text/event-plain\n\n"
                    b"Event-Name: API\nAPI-Command: status\n\n")
    with_body = wire.plain_event_body({"Event-Name": "BACKGROUND_JOB"}, "+OK\n")
    assert with_body == b"Event-Name: BACKGROUND_JOB\nContent-Length: 4\n\n+OK\n"


def test_json_layout_matches_cjson():
    data = wire.json_event_body(
        {"Event-Name": "BACKGROUND_JOB", "Caller": "Nguyễn/x", "Ctl": "\x01\t",
         "variable_DP_MATCH": ["1", "2"], "Content-Length": "999"},
        "+OK x\n")
    assert data.decode() == (
        '{"Event-Name":"BACKGROUND_JOB","Caller":"Nguyễn/x","Ctl":"\\u0001\\t",'
        '"variable_DP_MATCH":["1","2"],"Content-Length":"6","_body":"+OK x\\n"}')


def test_repeated_headers_as_pairs():
    pairs = [("Event-Name", "CHANNEL_HANGUP_COMPLETE"), ("Hangup-Cause", "USER_BUSY"),
             ("Hangup-Cause", "USER_BUSY")]
    assert wire.plain_event_body(pairs).count(b"Hangup-Cause: USER_BUSY\n") == 2
    assert wire.json_event_body(pairs).count(b'"Hangup-Cause":"USER_BUSY"') == 2


def test_empty_values_are_left_out_like_freeswitch():
    headers = {"Event-Name": "X", "variable_empty": "", "variable_none": []}
    assert wire.plain_event_body(headers) == b"Event-Name: X\n\n"
    assert wire.json_event_body(headers) == b'{"Event-Name":"X"}'


def test_url_encode_character_set():
    assert wire.url_encode("sofia/internal/101-0x558e354cb600@127.0.0.1:5110") == \
        "sofia/internal/101-0x558e354cb600%40127.0.0.1%3A5110"
    assert wire.url_encode("{a=b,c=d}x y") == "%7Ba%3Db,c%3Dd%7Dx%20y"
    assert wire.url_encode("~_.!$'()*,-/") == "~_.!$'()*,-/"
    assert wire.url_encode('\r\n #&+:;<=>?@[\\]^`{|}"') == \
        "%0D%0A%20%23%26%2B%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D%22"
    assert wire.url_encode("\x7fễ") == "%7F%E1%BB%85"


def test_percent_hex_is_not_double_encoded():
    """FreeSWITCH issue #85: "%XX" passes through, any other "%" is escaped."""
    assert wire.url_encode("%41 %4a %4 %zz 100%") == "%41%20%4a%20%254%20%25zz%20100%25"
    event = roundtrip({"Event-Name": "X", "v": "%41"}, "", "plain")
    assert event.headers["v"] == "A"  # what a real plain-event client sees


def test_fixed_frames_match_recordings():
    failure = (FIXTURES / "auth_failure.esl").read_bytes()
    assert failure == (wire.auth_request() + wire.command_reply("-ERR invalid")
                       + wire.disconnect_notice())
    assert len(wire.DEFAULT_GOODBYE.encode()) == 67
    tail = (FIXTURES / "api_responses.plain.esl").read_bytes()
    assert tail.endswith(wire.command_reply("-ERR command not found")
                         + wire.command_reply("+OK bye") + wire.disconnect_notice())
    job = "11111111-2222-3333-4444-555555555555"
    assert wire.command_reply(f"+OK Job-UUID: {job}", {"Job-UUID": job}) in tail
    assert wire.api_response("FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n") in tail
    assert wire.rude_rejection() == (b"Content-Type: text/rude-rejection\nContent-Length: 24"
                                     b"\n\nAccess Denied, go away.\n")


def _header_pairs(frame: Frame):
    """The event's headers in order, repeats kept (parse_event folds repeats)."""
    if frame.content_type == "text/event-json":
        pairs = json.loads(frame.body, object_pairs_hook=lambda p: p)
        return [(k, v) for k, v in pairs if k != "_body"], dict(pairs).get("_body", "")
    block, _, rest = frame.body.partition(b"\n\n")
    pairs = []
    for line in block.split(b"\n"):
        name, _, raw = line.partition(b": ")
        value = unquote_to_bytes(raw).decode()
        if value.startswith(wire.ARRAY_PREFIX):
            value = value[len(wire.ARRAY_PREFIX):].split(wire.ARRAY_SEPARATOR)
        pairs.append((name.decode(), value))
    length = dict(pairs).get("Content-Length")
    return pairs, rest[: int(length)].decode() if length else ""


def _rebuild(frame: Frame) -> bytes:
    kind = frame.content_type
    if kind == "auth/request":
        return wire.auth_request()
    if kind == "command/reply":
        extra = {k: v for k, v in frame.headers.items() if k not in ("Content-Type", "Reply-Text")}
        return wire.command_reply(frame.headers["Reply-Text"], extra)
    if kind == "api/response":
        return wire.api_response(frame.text)
    if kind == "text/disconnect-notice":
        return wire.disconnect_notice(frame.text)
    headers, body = _header_pairs(frame)
    return wire.encode_event(headers, body, kind.rsplit("-", 1)[1])


@pytest.mark.parametrize("path", all_capture_files(), ids=lambda p: p.name)
def test_every_recording_is_reproduced_byte_for_byte(path):
    data = path.read_bytes()
    assert b"".join(_rebuild(frame) for frame in parse_frames(data)) == data


@pytest.mark.parametrize("path", all_capture_files(), ids=lambda p: p.name)
def test_reencoding_parsed_events(path):
    """From ``parse_event``'s dicts the frames are identical too, except where
    FreeSWITCH repeated a header (a dict keeps one): CHANNEL_HANGUP_COMPLETE
    (Hangup-Cause) and CODEC (Channel-Write-Codec-Name/-Rate)."""
    folded = set()
    for frame in filter(is_event_frame, parse_frames(path.read_bytes())):
        event = parse_event(frame)
        fmt = frame.content_type.rsplit("-", 1)[1]
        original = f"Content-Length: {len(frame.body)}\nContent-Type: {frame.content_type}\n\n"
        if wire.encode_event(event.headers, event.body, fmt) != original.encode() + frame.body:
            pairs, _ = _header_pairs(frame)
            assert len(pairs) > len(event.headers) + (1 if event.body else 0) - 1
            folded.add(event.name)
    assert folded <= {"CHANNEL_HANGUP_COMPLETE", "CODEC"}
