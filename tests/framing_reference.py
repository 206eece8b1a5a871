"""The Event Socket framing rules written plainly, one frame at a time: the
specification ``protocol.FrameParser`` is checked against (the connector's
framer before it read from the socket into its own buffer)."""

from __future__ import annotations

from esl_connector.esl.protocol import MAX_BODY_BYTES, MAX_HEADER_BYTES, Frame, ProtocolError, decode_text


def parse_header_block(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolError(f"header line without ':': {decode_text(line[:80])!r}")
        headers[decode_text(name.strip())] = decode_text(value.strip())
    return headers


class ReferenceFramer:
    def __init__(self, max_header: int = MAX_HEADER_BYTES, max_body: int = MAX_BODY_BYTES):
        self.buf = b""
        self.pending: dict[str, str] | None = None
        self.need = 0
        self.max_header, self.max_body = max_header, max_body

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data``; (frames, error message) when the stream breaks."""
        self.buf += data
        frames: list[Frame] = []
        while True:
            try:
                frame = self.next_frame()
            except ProtocolError as exc:
                raise ProtocolError(str(exc), frames) from None
            if frame is None:
                return frames
            frames.append(frame)

    def next_frame(self) -> Frame | None:
        if self.pending is None:
            self.buf = self.buf.lstrip(b"\n")
            end = self.buf.find(b"\n\n")
            if end < 0 and len(self.buf) > self.max_header or end > self.max_header:
                raise ProtocolError(f"header block exceeds {self.max_header} bytes")
            if end < 0:
                return None
            headers = parse_header_block(self.buf[:end])
            self.buf = self.buf[end + 2:]
            length = headers.get("Content-Length")
            if length is None:
                return Frame(headers)
            if not length.isdigit():
                raise ProtocolError(f"bad Content-Length {length[:40]!r}")
            self.need = int(length)
            if self.need > self.max_body:
                raise ProtocolError(f"Content-Length {self.need} exceeds {self.max_body} bytes")
            self.pending = headers
        if len(self.buf) < self.need:
            return None
        body, self.buf = self.buf[:self.need], self.buf[self.need:]
        headers, self.pending = self.pending, None
        return Frame(headers, body)
