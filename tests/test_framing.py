"""``FrameParser`` cuts every recorded stream, and every broken one, into
exactly the frames (and errors) of the plain reference framer, whatever the
read boundaries, fed bytes or reading from a real socket into its buffer."""

import random
import socket
import threading

import pytest

from esl_connector.esl.protocol import FrameParser, ProtocolError

from framing_reference import ReferenceFramer
from recordings import all_capture_files


def cut(data: bytes, rng: random.Random, largest: int) -> list[bytes]:
    pieces, at = [], 0
    while at < len(data):
        size = rng.randint(1, largest)
        pieces.append(data[at:at + size])
        at += size
    return pieces


def outcome(framer, pieces: list[bytes]):
    """(frames, the error message or None, bytes left over)."""
    frames = []
    try:
        for piece in pieces:
            frames += framer.feed(piece)
    except ProtocolError as exc:
        return frames + exc.frames, str(exc), None
    left = framer.buffered if isinstance(framer, FrameParser) else len(framer.buf)
    return frames, None, left


@pytest.mark.parametrize("path", all_capture_files(), ids=lambda p: p.name)
@pytest.mark.parametrize("largest", [7, 1500, 64 * 1024, 300 * 1024])
def test_every_recording_gives_the_reference_frames_at_any_read_boundaries(path, largest):
    data = path.read_bytes()
    pieces = cut(data, random.Random(f"{path.name}-{largest}"), largest)
    expected = outcome(ReferenceFramer(), [data])
    assert expected[1] is None and expected[2] == 0 and expected[0]
    assert outcome(FrameParser(), pieces) == expected


FRAME = b"Content-Length: 5\nContent-Type: api/response\n\nhello"
HOSTILE = {
    "stray blank lines between frames": b"\n\n\n" + FRAME + b"\n\n\n\n" + FRAME + b"\n",
    "CRLF header lines": b"Content-Type: command/reply\r\nReply-Text: +OK\r\n\n" + FRAME,
    "blank CR line inside a header block": b"Content-Type: command/reply\n\r\nReply-Text: +OK\n\n",
    "no Content-Length": b"Content-Type: auth/request\n\n" + FRAME,
    "a header line without a colon": FRAME + b"Content-Type: x\ngarbage line\n\n" + FRAME,
    "a negative Content-Length": FRAME + b"Content-Length: -5\n\nhello",
    "a Content-Length with letters": FRAME + b"Content-Length: 12x\n\n" + FRAME,
    "a Content-Length over the body limit": FRAME + b"Content-Length: 300001\n\n",
    "a header block over the limit, unfinished": FRAME + b"X-Long: " + b"a" * 5000,
    "a header block over the limit, finished": FRAME + b"X-Long: " + b"a" * 5000 + b"\n\n" + FRAME,
    "binary garbage and non-UTF-8 names": b"\xff\xfe: \x00\x80\nContent-Length: 2\n\n\xc3(" + FRAME,
    "a body bigger than any read": b"Content-Length: 200000\nContent-Type: text/event-json\n\n"
                                   + bytes(range(256)) * 781 + b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN" + FRAME,
    "event header blocks nearly like FreeSWITCH's": b"Content-Length: 5\nContent-Type: text/event-json\r\n\nhello"
                                                  b"Content-Length:  5\nContent-Type: text/event-plain \n\nhello"
                                                  b"Content-Length: 5\nContent-Type: text/event-xml\n\nhello"
                                                  b"Content-Length: 05\nContent-Type: text/event-json\n\nhello",
    "an event header block with a bad length": b"Content-Length: \xd9\xa5\nContent-Type: text/event-json\n\n",
    "an empty body": b"Content-Length: 0\nContent-Type: api/response\n\n" + FRAME,
    "a truncated last frame": FRAME + FRAME[:30],
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("largest", [1, 3, 64, 100000])
def test_hostile_streams_break_or_frame_exactly_like_the_reference(name, largest):
    data = HOSTILE[name]
    pieces = cut(data, random.Random(f"{name}-{largest}"), largest)
    limits = {"max_header": 4096, "max_body": 300000}
    assert outcome(FrameParser(**limits), pieces) == outcome(ReferenceFramer(**limits), pieces)


def test_reading_from_a_socket_gives_the_reference_frames_and_none_at_the_end():
    """``read_from`` takes a real socket's ``recv_into``: the bytes land in the
    framer's buffer (here in reads of 1,000 bytes, so frames span reads)."""
    data = b"".join(path.read_bytes() for path in all_capture_files())
    expected, _, _ = outcome(ReferenceFramer(), [data])
    writer, reader = socket.socketpair()

    def send_all():
        with writer:
            writer.sendall(data)

    sender = threading.Thread(target=send_all)
    sender.start()
    with reader:
        parser, frames = FrameParser(read_size=1000), []
        while (got := parser.read_from(reader.recv_into)) is not None:
            frames += got
    sender.join()
    assert frames == expected and parser.buffered == 0


def test_the_buffer_grows_for_a_large_frame_and_shrinks_back_after_it():
    parser = FrameParser(read_size=1024)
    big = b"Content-Length: 100000\nContent-Type: api/response\n\n" + b"x" * 100000
    (frame,) = parser.feed(big)
    assert len(frame.body) == 100000
    assert parser.feed(FRAME)[0].body == b"hello"
    assert len(parser._buf) < 4 * 1024, "the large frame's buffer was let go"
    (frame,) = parser.feed(big)
    (again,) = parser.feed(big)  # fed in one piece into a buffer that had just grown for it
    assert frame == again and len(again.body) == 100000
    assert parser.feed(big[:60]) == [] and parser.feed(big[60:]) == [frame]
