"""Recordings over real HTTP: signed links made at delivery time, Range,
expiry, forged tokens, traversal and symlinks, per-customer base URLs."""

import json
import os
import stat
import time
from types import SimpleNamespace

import pytest
import requests

from esl_connector.api import recordings
from esl_connector.api.context import ApiContext
from esl_connector.api.recordings import RecordingError, Recordings, RecordingSettings
from esl_connector.api.server import HttpApi, HttpServer
from esl_connector.delivery.engine import DeliveryEngine
from esl_connector.delivery.webhooks import build_plan, planner
from esl_connector.records import CALL_LOG, CallRecord, Changes, CrmEvent
from esl_connector.settings.config import validate_recordings
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import CustomerDirectory
from storage.db import open_database
from storage.migrations import migrate
from storage.views import StoredEvent
from storage.writer import StorageWriter

from delivery_fixtures import FakeClock, ScriptedCrm, wait_until

KEY = b"test-recording-key-0123456789abcdef"
LIFETIME = 3600.0
AUDIO = bytes(range(256)) * 40  # 10240 bytes
REL = "2024/05/16/0a1b2c3d-call.wav"


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "recordings"
    (root / "2024/05/16").mkdir(parents=True)
    (root / REL).write_bytes(AUDIO)
    (root / "voicemail.mp3").write_bytes(b"ID3" + b"\x00" * 61)
    (root / "odd.xyz").write_bytes(b"?")
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", root / "escape.wav")  # inside the dir, pointing out
    os.symlink(root / REL, root / "alias.wav")  # inside, pointing inside: fine
    return root


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def server(tree, clock):
    recs = Recordings(str(tree), KEY, LIFETIME)
    ctx = ApiContext(db=None, esl=None, directory=CustomerDirectory([]), clock=clock,
                     extras={"recordings": recs})
    srv = HttpServer(HttpApi(ctx, recordings.routes())).start()
    recs.public_url = srv.url
    srv.recs = recs
    yield srv
    srv.stop()


def customer(base="http://crm.invalid", **extra):
    return parse_customers([{"code": "acme", "domain_crm": base, "secret": "s3cr3t-acme",
                             "extensions": "101", **extra}], env={})[0]


def call_log(recording: str) -> StoredEvent:
    params = {"callid": "c1", "calldate": "2024-05-16 10:00:00", "extension": "101", "phone": "0901",
              "duration": 20, "billsec": 10, "status": "ANSWERED", "recording": recording, "userfield": ""}
    return StoredEvent(1, "e" * 32, CALL_LOG, "c1", "101", "d1", params, 1.0, 1.0, "pending", 0, 0.0, "", None)


def link(server, relative: str, expires: float | None = None) -> str:
    expiry = int(time.time() + LIFETIME if expires is None else expires)
    return f"{server.url}/recordings/{server.recs.token(relative, expiry)}"


def assert_error(response, status: int, code: str, tree=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["code"] == code
    assert "/" not in body["message"] and (tree is None or str(tree) not in response.text)


def test_the_call_log_carries_a_fresh_signed_link_that_fetches_the_file(server, tree):
    event = call_log(str(tree / REL))
    plan = build_plan(event, customer(), now=time.time(), recording_url=server.recs.url_for)
    url = json.loads(plan.requests[0].body)["recording"]
    assert url.startswith(f"{server.url}/recordings/") and str(tree) not in url
    r = requests.get(url)
    assert r.status_code == 200 and r.content == AUDIO
    assert r.headers["Content-Type"] == "audio/wav" and r.headers["Accept-Ranges"] == "bytes"
    assert 'filename=0a1b2c3d-call.wav' in r.headers["Content-Disposition"].replace('"', "")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # a later attempt signs a new link with a later expiry; the stored path is untouched
    later = build_plan(event, customer(), now=time.time() + 86400, recording_url=server.recs.url_for)
    assert json.loads(later.requests[0].body)["recording"] != url
    assert event.params["recording"] == str(tree / REL)
    # without a link maker the value goes as stored (and an empty one stays empty)
    assert json.loads(build_plan(event, customer()).requests[0].body)["recording"] == str(tree / REL)
    empty = build_plan(call_log(""), customer(), recording_url=server.recs.url_for)
    assert json.loads(empty.requests[0].body)["recording"] == ""


def test_range_requests_head_and_conditional(server):
    url = link(server, REL)
    r = requests.get(url, headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.content == AUDIO[:100]
    assert r.headers["Content-Range"] == f"bytes 0-99/{len(AUDIO)}"
    r = requests.get(url, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == AUDIO[-10:]
    r = requests.get(url, headers={"Range": "bytes=10000-"})
    assert r.status_code == 206 and r.content == AUDIO[10000:]
    r = requests.get(url, headers={"Range": f"bytes={len(AUDIO) + 5}-"})
    assert_error(r, 416, "range_not_satisfiable")
    assert r.headers["Content-Range"] == f"bytes */{len(AUDIO)}"
    head = requests.head(url)
    assert head.status_code == 200 and head.headers["Content-Length"] == str(len(AUDIO)) and not head.content
    again = requests.get(url, headers={"If-None-Match": requests.get(url).headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("name,ctype", [("voicemail.mp3", "audio/mpeg"), ("odd.xyz", "application/octet-stream"),
                                        ("alias.wav", "audio/wav")])
def test_content_types_and_symlinks_inside_the_directory(server, name, ctype):
    r = requests.get(link(server, name))
    assert r.status_code == 200 and r.headers["Content-Type"] == ctype


def test_expired_links_are_gone(server, clock):
    url = server.recs.url_for(str(server.recs.root / REL), None, clock.now)
    clock.advance(LIFETIME - 1)
    assert requests.get(url).status_code == 200
    clock.advance(2)
    assert_error(requests.get(url), 410, "link_expired")


def test_forged_and_malformed_tokens_are_refused(server, tree):
    url = link(server, REL)
    token = url.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    other = server.recs.token("voicemail.mp3", int(time.time() + LIFETIME)).split(".")[0]
    forged = [f"{other}.{mac}",                           # another file's payload, this file's MAC
              f"{payload}.{mac[:-2]}AA",                   # a changed MAC
              Recordings(str(tree), b"another-key-0123456789abcdef", LIFETIME).token(REL, 2**40),
              "garbage", "a.b.c", f"{payload}.", "%00", f"{payload}.{mac}x"]
    for bad in forged:
        assert_error(requests.get(f"{server.url}/recordings/{bad}"), 403, "invalid_token", tree)
    # a far-future expiry written into someone's valid token breaks its MAC too
    future = recordings._b64(f"{2**40}|{REL}".encode())
    assert_error(requests.get(f"{server.url}/recordings/{future}.{mac}"), 403, "invalid_token")


def test_traversal_symlinks_out_and_missing_files_are_not_found(server, tree):
    # even with a correctly signed token (say the key leaked), nothing outside is served
    for relative in ("../secret.txt", "2024/../../secret.txt", "/etc/passwd", "escape.wav",
                     "missing.wav", "2024", "2024/05/16/../../../../secret.txt"):
        r = requests.get(link(server, relative))
        assert r.status_code == 404, relative
        assert_error(r, 404, "recording_not_found", tree)
        assert "top secret" not in r.text
    for raw in ("..%2F..%2Fsecret.txt", "../../secret.txt", "%2E%2E/secret.txt"):
        r = requests.get(f"{server.url}/recordings/{raw}")
        assert r.status_code in (403, 404) and "top secret" not in r.text
    # links are never made for files outside the directory
    recs = server.recs
    assert recs.url_for(str(tree.parent / "secret.txt"), None, time.time()) == ""
    assert recs.url_for(f"{tree}/../secret.txt", None, time.time()) == ""
    assert recs.url_for("/etc/passwd", None, time.time()) == ""


def test_per_customer_base_url_and_freeswitch_directory_mapping(tree):
    recs = Recordings(str(tree), KEY, LIFETIME, "https://pbx.example.com",
                      freeswitch_directory="/var/lib/freeswitch/recordings")
    proxied = customer(recordings_base_url="https://files.acme.vn/rec/")
    assert proxied.recordings_base_url == "https://files.acme.vn/rec"
    fs_path = "/var/lib/freeswitch/recordings/2024/05/16/a b.wav"
    assert recs.url_for(fs_path, proxied, 0) == "https://files.acme.vn/rec/2024/05/16/a%20b.wav"
    signed = recs.url_for(fs_path, customer(), 0)
    assert signed.startswith("https://pbx.example.com/recordings/")
    assert recs.verify(signed.rsplit("/", 1)[1], 0) == "2024/05/16/a b.wav"
    assert recs.url_for(str(tree / REL), customer(), 0) == ""  # the local path is not FreeSWITCH's
    disabled = Recordings("", b"", LIFETIME, "https://pbx.example.com")
    assert disabled.url_for(fs_path, customer(), 0) == ""
    with pytest.raises(Exception, match="recordings_base_url"):
        customer(recordings_base_url="ftp://files.acme.vn")


def test_the_signing_key_is_generated_once_and_kept(tmp_path):
    settings = RecordingSettings(directory=str(tmp_path), key_file=str(tmp_path / "keys/recording.key"))
    first = recordings.load_signing_key(settings)
    assert len(first) >= 32 and recordings.load_signing_key(settings) == first
    assert stat.S_IMODE(os.stat(settings.key_file).st_mode) == 0o600
    assert recordings.load_signing_key(RecordingSettings(signing_key="x" * 20)) == b"x" * 20
    (tmp_path / "short.key").write_text("tiny")
    with pytest.raises(RecordingError, match="shorter"):
        recordings.load_signing_key(RecordingSettings(key_file=str(tmp_path / "short.key")))


def test_settings_validation():
    problems = []
    validate_recordings(RecordingSettings(directory="rel/dir", url_lifetime=1, signing_key="short"),
                                   "", problems)
    text = "\n".join(problems)
    for key in ("recordings.directory", "recordings.url_lifetime", "recordings.signing_key", "http.public_url"):
        assert key in text
    ok = []
    validate_recordings(RecordingSettings(directory="/srv/rec"), "https://pbx.example.com", ok)
    validate_recordings(RecordingSettings(), "", ok)  # not served: nothing to check
    assert ok == []


def test_a_running_connector_delivers_a_link_the_crm_can_fetch(tmp_path, tree):
    """Writer -> outbox -> delivery engine -> CRM; then the CRM fetches the link."""
    db = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    migrate(db)
    crm = ScriptedCrm().start()
    recs = Recordings(str(tree), KEY, LIFETIME)
    ctx = ApiContext(db=db, esl=None, directory=CustomerDirectory([customer(crm.url)]),
                     settings=SimpleNamespace(), extras={"recordings": recs})
    srv = HttpServer(HttpApi(ctx, recordings.routes())).start()
    recs.public_url = srv.url
    engine = DeliveryEngine(db, planner(ctx.directory, recording_url=recs.url_for), poll_interval=0.05)
    writer = StorageWriter(db, commit_window=0.01, on_commit=engine.wake)
    writer.start()
    engine.start()
    try:
        params = {**call_log(str(tree / REL)).params}
        writer.submit(Changes(calls=[CallRecord("c1", "inbound", "ended", recording=str(tree / REL))],
                              crm_events=[CrmEvent(CALL_LOG, "c1", "101", "d1", params, 1.0)]))
        wait_until(lambda: crm.of_type(CALL_LOG), timeout=30, what="call log delivered")
        sent = json.loads(crm.of_type(CALL_LOG)[0].body)["recording"]
        fetched = requests.get(sent, headers={"Range": "bytes=0-1023"})
        assert fetched.status_code == 206 and fetched.content == AUDIO[:1024]
    finally:
        engine.stop(timeout=2)
        writer.stop()
        srv.stop()
        crm.stop()
        db.close()
