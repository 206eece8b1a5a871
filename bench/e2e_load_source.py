"""The end-to-end benchmark's "FreeSWITCH": an Event Socket server replaying
pre-rendered, recorded-shape calls from memory at a fixed rate.

One process, plain threads and blocking sockets (no gevent), so that it can
out-run the connector:

* the template is the real FreeSWITCH 1.10.12 recording
  ``inbound_answered.json.esl``, reduced to the events the connector subscribes
  to (16 per call: the PSTN caller's leg, the DID leg and the agent leg, each
  CHANNEL_CREATE / PROGRESS / ANSWER / BRIDGE / UNBRIDGE / HANGUP_COMPLETE as
  recorded, plus the originate's BACKGROUND_JOB; HEARTBEAT is sent apart,
  every ``--heartbeat`` seconds);
* every call is rendered before the load starts (up to 2 GiB of frames; a
  longer load renders each call as its first event is due), as final bytes: fresh UUIDs
  (every UUID but the Core-UUID), its own caller number (``09`` + 8 digits)
  and its own agent extension (4 digits, so every call of a template has the
  same byte layout);
* its timeline is re-timed: the agent's phone rings at once (as recorded, the
  legs' set-up spans 40 ms), the agent answers ``--ring`` s later and hangs
  up ``--talk`` s after answering;
* every time value of an event (``Event-Date-Timestamp``, ``Caller-*-Time``,
  ``variable_*_epoch``/``_uepoch``/``_stamp``, ``Event-Date-Local``/``GMT``)
  is patched into the pre-rendered bytes (fixed width) just before the event
  is sent: ``Event-Date-Timestamp`` is the send time (microseconds, what the
  latency is measured from), the others follow the call's schedule.

Control (the benchmark driver talks to it through pipes): it prints one JSON
line per fact on stdout (``ready`` with its port, ``command`` for each command
the client sends, ``progress`` every second while sending, ``done``), and reads
``go`` / ``stop`` lines on stdin. At ``done`` it writes, per call, the callid,
the agent's extension and the scheduled and actual send times of the two
events that trigger a webhook (the agent leg's first CHANNEL_PROGRESS for
``incoming_call``, the call's last CHANNEL_HANGUP_COMPLETE for the call log)
to ``--out``.

    python bench/e2e_load_source.py --rate 50 --seconds 10 --out /tmp/triggers.json
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("ESL_FIXTURES", ROOT.parent / "shared" / "fixtures" / "freeswitch"))
RECORDING = "inbound_answered.json.esl"

# What the connector subscribes to (esl_connector/subscription.py); checked
# against the `event` command the connector actually sends.
SUBSCRIBED = ("CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
              "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP_COMPLETE", "RECORD_START",
              "RECORD_STOP", "BACKGROUND_JOB", "HEARTBEAT")
RINGING = ("CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER")

VERSION = "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
GOODBYE = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
CALLER = "0904824242"
AGENT = "101"
# Every place the recording names the caller, the agent or a UUID, and every
# time value; one pass, so the template is a list of literal bytes and slots.
SLOTS = re.compile(
    rf"(?P<uuid>{UUID_RE})"
    rf"|(?P<caller>{CALLER})"
    rf"|(?P<agent>(?<=[\":/ ]){AGENT}(?=-0x|@127\.0\.0\.1)"
    rf"|(?<=\"variable_dialed_user\":\"){AGENT}(?=\")"
    rf"|(?<=\"variable_accountcode\":\"){AGENT}(?=\")"
    rf"|(?<=\"variable_effective_caller_id_number\":\"){AGENT}(?=\")"
    rf"|(?<=Agent ){AGENT}(?=\"))"
    r"|(?<=\"Event-Date-Timestamp\":\")(?P<now>\d{16})(?=\")"
    r"|(?<=\":\")(?P<us>1\d{15})(?=\")"
    r"|(?<=\":\")(?P<s>1\d{9})(?=\")"
    r"|(?<=\":\")(?P<local>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?=\")"
    r"|(?<=\":\")(?P<gmt>[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT)(?=\")"
)
TIME_KINDS = ("now", "us", "s", "local", "gmt")
PRERENDER_BYTES = 2 << 30  # beyond this, calls are rendered as they are sent
WIDTH = {"now": 16, "us": 16, "s": 10, "local": 19, "gmt": 29}


def frames_of(data: bytes):
    """(headers, body) of every frame of a recorded stream."""
    pos = 0
    while pos < len(data):
        end = data.index(b"\n\n", pos)
        headers = dict(line.split(": ", 1) for line in data[pos:end].decode().split("\n") if ": " in line)
        pos = end + 2
        length = int(headers.get("Content-Length", 0))
        yield headers, data[pos:pos + length]
        pos += length


@dataclass
class Template:
    """One recorded event as a bytes %-format: every UUID, caller and agent is a
    ``%s`` (fixed width), every time value zeros of its width, patched at send."""
    name: str
    offset: float                      # seconds after the call's start (re-timed)
    fmt: bytes = b""
    keys: tuple = ()                   # per %s: an original UUID, "caller" or "agent"
    slots: tuple = ()                  # (pos, kind, rel_us) of each time value in the frame
    head: bytes = b""
    incoming_trigger: bool = False
    log_trigger: bool = False
    leg: str = ""                      # original Unique-ID
    info: dict = field(default_factory=dict)


class Recording:
    """The recorded call, re-timed, ready to render copies of."""

    def __init__(self, path: Path, ring: float, talk: float):
        events = []
        for headers, body in frames_of(path.read_bytes()):
            if headers.get("Content-Type") != "text/event-json":
                continue
            obj = json.loads(body)
            if obj["Event-Name"] in SUBSCRIBED:
                events.append((obj, body.decode()))
        heartbeat_obj, heartbeat_text = next((o, t) for o, t in events if o["Event-Name"] == "HEARTBEAT")
        calls = [(o, t) for o, t in events if o["Event-Name"] != "HEARTBEAT"]
        self.core_uuid = calls[0][0]["Core-UUID"]
        start = min(int(o["Event-Date-Timestamp"]) for o, _ in calls)
        answered = min(int(o["Event-Date-Timestamp"]) for o, _ in calls if o["Event-Name"] == "CHANNEL_ANSWER")
        hungup = min(int(o["Event-Date-Timestamp"]) for o, _ in calls if o["Event-Name"] == "CHANNEL_HANGUP_COMPLETE")
        self.window = (start - 86_400_000_000, start + 86_400_000_000)

        def retime(us: int) -> int:
            """A recorded time -> microseconds after the call's start."""
            if us < answered:
                return us - start
            if us < hungup:
                return int(ring * 1e6) + us - answered
            return int((ring + talk) * 1e6) + us - hungup

        agent = next(o for o, _ in calls if o.get("variable_dialed_user") == AGENT)
        self.callid = agent["Channel-Call-UUID"]
        self.agent_leg = agent["Unique-ID"]
        self.templates = [self._template(o, t, retime) for o, t in calls]
        self.templates.sort(key=lambda t: t.offset)  # stable: same-time events keep their order
        first_ring = next(t for t in self.templates if t.leg == self.agent_leg and t.name in RINGING)
        first_ring.incoming_trigger = True
        last_hangup = [t for t in self.templates if t.name == "CHANNEL_HANGUP_COMPLETE"
                       and t.info.get("Channel-Call-UUID") == self.callid][-1]
        last_hangup.log_trigger = True
        self.heartbeat = self._template(heartbeat_obj, heartbeat_text, retime)
        self.legs = {t.leg: t.info for t in self.templates if t.name == "CHANNEL_CREATE"}
        self.uuids = sorted({k for t in self.templates for k in t.keys if k not in ("caller", "agent")})

    def _time_us(self, kind: str, value: str) -> int | None:
        if kind in ("us", "now"):
            us = int(value)
        elif kind == "s":
            us = int(value) * 1_000_000
        elif kind == "local":
            us = calendar.timegm(time.strptime(value, "%Y-%m-%d %H:%M:%S")) * 1_000_000
        else:
            us = calendar.timegm(time.strptime(value, "%a, %d %b %Y %H:%M:%S GMT")) * 1_000_000
        return us if self.window[0] <= us <= self.window[1] else None

    def _template(self, obj: dict, text: str, retime) -> Template:
        fmt: list[bytes] = []
        keys: list[str] = []
        slots: list[tuple] = []
        size = pos = 0

        def literal(data: bytes) -> None:
            nonlocal size
            fmt.append(data.replace(b"%", b"%%"))
            size += len(data)

        for m in SLOTS.finditer(text):
            kind = m.lastgroup
            value = m.group(kind)
            literal(text[pos:m.start()].encode())
            pos = m.end()
            if kind == "uuid" and value == self.core_uuid:
                literal(value.encode())
            elif kind in ("uuid", "caller", "agent"):
                fmt.append(b"%s")
                keys.append(value if kind == "uuid" else kind)
                size += {"uuid": 36, "caller": 10, "agent": 4}[kind]
            elif (us := self._time_us(kind, value)) is None:
                literal(value.encode())
            else:
                slots.append((size, kind, retime(us)))
                literal(b"0" * WIDTH[kind])
        literal(text[pos:].encode())
        head = b"Content-Length: %d\nContent-Type: text/event-json\n\n" % size
        info = {k: obj.get(k, "") for k in ("Channel-Call-UUID", "Call-Direction", "Channel-Name",
                                              "Caller-Caller-ID-Number", "Caller-Destination-Number",
                                              "Caller-Caller-ID-Name", "variable_presence_id")}
        return Template(obj["Event-Name"], retime(int(obj["Event-Date-Timestamp"])) / 1e6, b"".join(fmt),
                        tuple(keys), tuple((p + len(head), k, r) for p, k, r in slots), head,
                        leg=obj.get("Unique-ID", ""), info=info)

    @staticmethod
    def render(template: Template, values: dict[str, bytes]) -> bytearray:
        """One event of one call, as the frame FreeSWITCH sends (time values zero)."""
        return bytearray(template.head + template.fmt % tuple([values[k] for k in template.keys]))

    def call_values(self, i: int, agent: str) -> dict[str, bytes]:
        """Call ``i``'s fresh UUIDs, caller number and agent."""
        values = {u: str(uuid.uuid4()).encode() for u in self.uuids}
        values["caller"] = b"09%08d" % (i % 100_000_000)
        values["agent"] = agent.encode()
        return values


class Stamper:
    """Writes a time value into a pre-rendered frame, fixed width."""

    def __init__(self):
        self._seconds: dict[tuple[str, int], bytes] = {}

    def text(self, kind: str, us: int) -> bytes:
        if kind in ("us", "now"):
            return b"%016d" % us
        sec = us // 1_000_000
        key = (kind, sec)
        cached = self._seconds.get(key)
        if cached is None:
            if len(self._seconds) > 4096:
                self._seconds.clear()
            if kind == "s":
                cached = b"%010d" % sec
            elif kind == "local":
                cached = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sec)).encode()
            else:
                cached = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(sec)).encode()
            self._seconds[key] = cached
        return cached

    def patch(self, buf: bytearray, slots, base_us: int, now_us: int) -> None:
        text = self.text
        for pos, kind, rel in slots:
            value = text(kind, now_us if kind == "now" else base_us + rel)
            buf[pos:pos + len(value)] = value


class Load:
    """Every call rendered, and the send schedule."""

    def __init__(self, recording: Recording, rate: float, calls: int, agents: list[str]):
        self.recording = recording
        self.rate = rate
        self.calls = calls
        t0 = time.perf_counter()
        templates = recording.templates
        self.frames: list[list[bytearray] | None] = []
        self.values: list[dict[str, bytes]] = []
        self.agents: list[str] = []
        render = Recording.render
        per_call = sum(len(render(t, recording.call_values(0, agents[0]))) for t in templates)
        # Long runs (30 minutes at 100 calls/s: 21 GB of frames) render each call as
        # its first event is due and drop it after its last.
        self.lazy = calls * per_call > PRERENDER_BYTES
        for i in range(calls):
            agent = agents[i % len(agents)]
            values = recording.call_values(i, agent)
            self.frames.append(None if self.lazy else [render(t, values) for t in templates])
            self.values.append(values)
            self.agents.append(agent)
        self.last_event = max(range(len(templates)), key=lambda j: (templates[j].offset, j))
        self.callids = [v[recording.callid].decode() for v in self.values]
        # (time after go, call, event): calls start at i / rate; flat out (rate 0),
        # one call's events after the other's.
        if rate > 0:
            self.schedule = sorted(((i / rate + t.offset, i, j) for i in range(calls)
                                    for j, t in enumerate(templates)), key=lambda x: x[0])
        else:
            self.schedule = [(0.0, i, j) for i in range(calls) for j in range(len(templates))]
        self.render_s = time.perf_counter() - t0
        self.bytes = per_call * calls
        self.incoming = next(j for j, t in enumerate(templates) if t.incoming_trigger)
        self.log = next(j for j, t in enumerate(templates) if t.log_trigger)


    def call_frames(self, call: int) -> list[bytearray]:
        """Call ``call``'s frames (rendered now if the load is rendered lazily)."""
        frames = self.frames[call]
        if frames is None:
            frames = [Recording.render(t, self.values[call]) for t in self.recording.templates]
            self.frames[call] = frames
        return frames

    def sent(self, call: int, j: int) -> None:
        """Event ``j`` of ``call`` went out: a lazy load forgets the call after its last."""
        if self.lazy and j == self.last_event:
            self.frames[call] = None


class Source:
    """The Event Socket server: one client at a time (the last to subscribe)."""

    def __init__(self, load: Load, password: str, agents: list[str], heartbeat: float):
        self.load = load
        self.password = password
        self.all_agents = agents
        self.heartbeat_interval = heartbeat
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()      # one frame at a time on the client socket
        self.client: socket.socket | None = None
        self.connections = 0
        self.stamper = Stamper()
        self.stdout_lock = threading.Lock()
        self.started_us = int(time.time() * 1e6)
        n = load.calls
        self.sent_incoming = [0.0] * n
        self.sent_log = [0.0] * n
        self.sched_base = 0.0
        self.events_sent = 0
        self.bytes_sent = 0
        self.lag_max = 0.0
        self.lags: list[float] = []
        self.open_legs: dict[tuple[int, str], str] = {}   # (call, leg) -> callstate
        self.sending = False
        self.finished = False
        self.first_start = self.last_start = 0.0

    def say(self, **fact) -> None:
        with self.stdout_lock:
            sys.stdout.write(json.dumps(fact) + "\n")
            sys.stdout.flush()

    # -- connections -------------------------------------------------------------
    def serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as mod_event_socket does
            self.connections += 1
            threading.Thread(target=self.session, args=(sock,), daemon=True).start()

    def send(self, sock: socket.socket, data: bytes) -> None:
        with self.lock:
            sock.sendall(data)

    def reply(self, sock, text: str, **extra: str) -> None:
        head = "Content-Type: command/reply\nReply-Text: %s\n" % text
        head += "".join(f"{k}: {v}\n" for k, v in extra.items())
        self.send(sock, (head + "\n").encode())

    def api_reply(self, sock, body: str) -> None:
        data = body.encode()
        self.send(sock, b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data)

    def session(self, sock: socket.socket) -> None:
        buf = b""
        authed = False
        try:
            sock.sendall(b"Content-Type: auth/request\n\n")
            while True:
                while b"\n\n" not in buf:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                raw, buf = buf.split(b"\n\n", 1)
                command = raw.decode()
                self.say(event="command", command=command.split("\n")[0][:200])
                if not authed:
                    if command != f"auth {self.password}":
                        self.reply(sock, "-ERR invalid")
                        sock.sendall(b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(GOODBYE)
                                     + GOODBYE)
                        return
                    authed = True
                    self.reply(sock, "+OK accepted")
                elif command.startswith("event "):
                    words = command.split()
                    missing = [n for n in SUBSCRIBED if n not in words]
                    self.reply(sock, f"+OK event listener enabled {words[1]}")
                    self.client = sock
                    self.say(event="subscribed", format=words[1], missing=missing)
                elif command.startswith("api "):
                    self.api_reply(sock, self.api(command[4:].strip()))
                elif command.startswith("bgapi "):
                    job = command.split("Job-UUID: ", 1)[1].strip() if "Job-UUID: " in command else str(uuid.uuid4())
                    self.reply(sock, f"+OK Job-UUID: {job}", **{"Job-UUID": job})
                elif command == "exit":
                    self.reply(sock, "+OK bye")
                    sock.sendall(b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(GOODBYE)
                                 + GOODBYE)
                    return
                else:
                    self.reply(sock, "+OK")
        except OSError:
            return
        finally:
            if self.client is sock:
                self.client = None
            sock.close()

    def api(self, command: str) -> str:
        if command == "strepoch":
            return str(int(time.time()))
        if command == "version":
            return VERSION
        if command == "status":
            up = int(time.time() - self.started_us / 1e6)
            return (f"UP 0 years, 0 days, 0 hours, {up // 60} minutes, {up % 60} seconds, 0 milliseconds, "
                    f"0 microseconds\nFreeSWITCH (Version 1.10.12-release  64bit) is ready\n"
                    f"{len(self.open_legs)} session(s) - peak 0, last 5min 0 \n1000 session(s) max\n")
        if command == "show registrations as json":
            now = int(time.time())
            return self.rows([{
                "reg_user": a, "realm": "127.0.0.1", "token": f"reg-{a}@bench",
                "url": f"sofia/internal/sip:{a}-0x558e354cb600@127.0.0.1:5110", "expires": str(now + 600),
                "network_ip": "127.0.0.1", "network_port": "5110", "network_proto": "udp",
                "hostname": "bench", "metadata": ""} for a in self.all_agents])
        if command == "show channels as json":
            return self.rows(self.channel_rows())
        if command == "show channels count":
            return f"\n{len(self.open_legs)} total.\n"
        return f"-ERR {command.split()[0] if command else ''} Command not found!\n"

    @staticmethod
    def rows(rows: list[dict]) -> str:
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":")) + "\n"

    def channel_rows(self) -> list[dict]:
        """``show channels`` for the legs created and not yet hung up."""
        rows = []
        legs = self.load.recording.legs
        now = int(time.time())
        for (call, leg), state in list(self.open_legs.items()):
            info = legs[leg]
            fix = self.fixer(call)
            rows.append({"uuid": fix(leg), "direction": info["Call-Direction"], "created_epoch": str(now),
                         "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)),
                         "name": fix(info["Channel-Name"]), "state": "CS_EXECUTE",
                         "cid_name": info["Caller-Caller-ID-Name"], "cid_num": fix(info["Caller-Caller-ID-Number"]),
                         "dest": fix(info["Caller-Destination-Number"]), "callstate": state,
                         "presence_id": fix(info["variable_presence_id"]), "call_uuid": fix(info["Channel-Call-UUID"]),
                         "hostname": "bench"})
        return rows

    def fixer(self, call: int):
        """A function mapping the recording's values to call ``call``'s."""
        values = {k: v.decode() for k, v in self.load.values[call].items()}
        agent = values.pop("agent")
        caller = values.pop("caller")

        def fix(value: str) -> str:
            value = value.replace(CALLER, caller).replace(f"{AGENT}-0x", f"{agent}-0x")
            value = value.replace(f"{AGENT}@127.0.0.1", f"{agent}@127.0.0.1")
            for old, new in values.items():
                value = value.replace(old, new)
            return value
        return fix

    # -- the load ----------------------------------------------------------------
    def heartbeats(self) -> None:
        template = self.load.recording.heartbeat
        frame = Recording.render(template, {})
        shift = int(template.offset * 1e6)
        while not self.finished:
            time.sleep(self.heartbeat_interval)
            sock = self.client
            if sock is None:
                continue
            now_us = int(time.time() * 1e6)
            with self.lock:
                self.stamper.patch(frame, template.slots, now_us - shift, now_us)
                try:
                    sock.sendall(frame)
                except OSError:
                    pass

    def run(self) -> None:
        """Send every call on schedule; chunks of what is due, one sendall each."""
        load = self.load
        templates = load.recording.templates
        frames = load.frames
        schedule = load.schedule
        incoming, log_j = load.incoming, load.log
        names = [t.name for t in templates]
        legs = [t.leg for t in templates]
        slots = [t.slots for t in templates]
        patch = self.stamper.patch
        sent_incoming, sent_log, open_legs = self.sent_incoming, self.sent_log, self.open_legs
        self.sending = True
        go = time.time() + 0.01
        self.sched_base = go
        go_us = int(go * 1e6)
        n = len(schedule)
        i = 0
        last_progress = go
        calls_started = 0
        while i < n:
            now = time.time()
            due = now - go
            if schedule[i][0] > due:
                time.sleep(min(schedule[i][0] - due, 0.002))
                continue
            sock = self.client
            if sock is None:
                time.sleep(0.01)
                continue
            lag = due - schedule[i][0]
            if lag > self.lag_max:
                self.lag_max = lag
            self.lags.append(lag)
            chunk = []
            size = 0
            now_us = int(now * 1e6)
            while i < n and size < 262144:
                at, call, j = schedule[i]
                if at > due:
                    break
                buf = (frames[call] or load.call_frames(call))[j]
                patch(buf, slots[j], go_us + int(call / load.rate * 1e6) if load.rate > 0 else now_us, now_us)
                chunk.append(buf)
                load.sent(call, j)
                size += len(buf)
                name = names[j]
                if j == incoming:
                    sent_incoming[call] = now
                elif j == log_j:
                    sent_log[call] = now
                if name == "CHANNEL_CREATE":
                    open_legs[(call, legs[j])] = "DOWN"
                    if j == 0:
                        calls_started += 1
                        if calls_started == 1:
                            self.first_start = now
                        self.last_start = now
                elif name == "CHANNEL_HANGUP_COMPLETE":
                    open_legs.pop((call, legs[j]), None)
                elif name == "CHANNEL_PROGRESS" and (call, legs[j]) in open_legs:
                    open_legs[(call, legs[j])] = "RINGING"
                elif name == "CHANNEL_ANSWER" and (call, legs[j]) in open_legs:
                    open_legs[(call, legs[j])] = "ACTIVE"
                i += 1
            try:
                self.send(sock, b"".join(chunk))
            except OSError:
                self.say(event="error", error="client went away while sending")
                time.sleep(0.01)
                continue
            self.events_sent += len(chunk)
            self.bytes_sent += size
            if now - last_progress >= 1.0:
                last_progress = now
                self.say(event="progress", t=round(now - go, 3), calls_started=calls_started,
                         events_sent=self.events_sent, lag_ms=round(lag * 1000, 1))
        end = time.time()
        self.sending = False
        lags = sorted(self.lags) or [0.0]
        self.say(event="sent", seconds=round(end - go, 3), calls=load.calls, events=self.events_sent,
                 starts_s=round(self.last_start - self.first_start, 4),
                 bytes=self.bytes_sent, lag_p50_ms=round(lags[len(lags) // 2] * 1000, 2),
                 lag_p99_ms=round(lags[int(len(lags) * 0.99)] * 1000, 2),
                 lag_max_ms=round(self.lag_max * 1000, 2), connections=self.connections)


def agent_list(spec: str) -> list[str]:
    """``1000-1599``, ``1000-1099,1200`` -> every extension; groups separated by
    ``;`` (one per customer) are interleaved: calls go to each in turn. Every
    extension has 4 digits, so every copy of an event has the same byte layout."""
    groups = []
    for group in spec.split(";"):
        out = []
        for part in group.split(","):
            lo, _, hi = part.partition("-")
            out.extend(str(x) for x in range(int(lo), int(hi or lo) + 1))
        groups.append(out)
    agents = [a for row in zip(*groups) for a in row] if len(groups) > 1 else groups[0]
    if not agents or any(len(a) != 4 for a in agents):
        raise SystemExit("agent extensions must have 4 digits (every copy keeps the same byte layout)")
    return agents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="calls/s (0: flat out, one call after the other)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--calls", type=int, default=0, help="number of calls (default rate x seconds)")
    parser.add_argument("--ring", type=float, default=0.5, help="seconds the agent's phone rings")
    parser.add_argument("--talk", type=float, default=1.0, help="seconds from answer to hangup")
    parser.add_argument("--agents", default="1000-1999",
                        help="agent extensions, calls take them in turn (groups split by ; alternate)")
    parser.add_argument("--password", default="ClueCon")
    parser.add_argument("--heartbeat", type=float, default=20.0)
    parser.add_argument("--recording", default=str(FIXTURES / RECORDING))
    parser.add_argument("--out", help="where to write the trigger times at the end")
    args = parser.parse_args()
    calls = args.calls or max(1, int(round(args.rate * args.seconds)))
    agents = agent_list(args.agents)
    recording = Recording(Path(args.recording), args.ring, args.talk)
    load = Load(recording, args.rate, calls, agents)
    source = Source(load, args.password, agents, args.heartbeat)
    threading.Thread(target=source.serve, daemon=True).start()
    threading.Thread(target=source.heartbeats, daemon=True).start()
    source.say(event="ready", port=source.port, calls=calls, events=len(load.schedule),
               events_per_call=len(recording.templates), bytes=load.bytes, render_s=round(load.render_s, 3),
               lazy=load.lazy,
               incoming_trigger=recording.templates[load.incoming].name,
               log_trigger=recording.templates[load.log].name)
    for line in sys.stdin:
        command = line.strip()
        if command == "go":
            source.run()
            if args.out:
                with open(args.out, "w") as f:
                    json.dump({"callids": load.callids, "agents": load.agents,
                               "sched_base": source.sched_base, "rate": args.rate,
                               "offsets": [recording.templates[load.incoming].offset,
                                           recording.templates[load.log].offset],
                               "sent_incoming": source.sent_incoming, "sent_log": source.sent_log}, f)
            source.say(event="done")
        elif command == "stop":
            break
    source.finished = True
    source.listener.close()


if __name__ == "__main__":
    main()
