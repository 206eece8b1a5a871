"""EventSocketClient fed the real FreeSWITCH 1.10.12 recordings.

The fake server replays each ``*.esl`` file in lock-step with its
``*.sent.log`` (bytes up to each command's rx_offset, then it waits for the
client's command), in random-sized TCP chunks; the test sends the same
commands through the client's public API.
"""

from __future__ import annotations

import re

import pytest
import test_esl_client as base

from esl_connector.calls.tracker import Tracker
from esl_connector.esl.client import JobResult
from esl_connector.esl.protocol import parse_capture, parse_frames
from esl_connector.esl.subscription import subscribe_command

from esl_fake_server import FIXTURES, recorded_commands, replay_session, wait_until

pytestmark = pytest.mark.timeout(60)  # a loaded machine: seconds per test
servers, clients = base.servers, base.clients  # the shared fixtures

CALL_FILES = sorted(p for p in FIXTURES.glob("*.esl")
                    if p.name != "auth_failure.esl" and not p.name.startswith("api_responses"))
JOB_RESULTS = {  # from the README's scenario table
    "inbound_busy": JobResult(False, "USER_BUSY"),
    "inbound_no_answer": JobResult(False, "NORMAL_CLEARING"),
    "inbound_caller_cancel": JobResult(False, "NO_ANSWER"),
}


def sent_log(esl):
    return esl.with_name(esl.name[: -len(".esl")] + ".sent.log")


def issue(client, command):
    """Send a recorded command through the public API; what the caller got back."""
    if command.startswith("api "):
        return client.api(command[4:])
    if command.startswith("bgapi "):
        text, _, job_uuid = command[6:].partition("\nJob-UUID: ")
        return client.bgapi(text, job_uuid=job_uuid or None)
    if command == "exit":
        client.stop(timeout=2)
        return None
    return client.command(command)


def replay(servers, clients, esl, **options):
    fmt = esl.name.split(".")[-2]
    server = servers(replay_session(esl, seed=len(esl.name)))
    client, rec = clients(server, event_format=fmt, **options)
    base.connected(client, rec)
    steps = recorded_commands(sent_log(esl))
    assert [c for _, c in steps[:2]] == ["auth ClueCon", f"event {fmt} ALL"]
    results = [issue(client, command) for _, command in steps[2:]]
    assert server.connections[0].commands[:2] == ["auth ClueCon", subscribe_command(fmt)]
    assert server.connections[0].commands[2:] == [c for _, c in steps[2:]]
    return client, rec, results


def same_events(actual, expected):
    assert [e.name for e in actual] == [e.name for e in expected]
    assert [(e.headers, e.body) for e in actual] == [(e.headers, e.body) for e in expected]


@pytest.mark.parametrize("esl", CALL_FILES, ids=lambda p: p.name)
def test_replay_recorded_call_yields_parse_capture_events(servers, clients, esl):
    client, rec, jobs = replay(servers, clients, esl)
    expected = parse_capture(esl.read_bytes())
    wait_until(lambda: len(rec.events) >= len(expected), what=f"{len(expected)} events")
    same_events(rec.events, expected)
    assert client.status().events_received == len(expected) and client.connected
    check_jobs(esl, jobs)


def check_jobs(esl, jobs):
    scenario = esl.name.split(".")[0]
    for job in jobs:
        if scenario == "click_to_call":
            uuid = re.search(r"origination_uuid=([0-9a-f-]+)", job.command).group(1)
            assert job.wait(2) == JobResult(True, uuid)
        elif scenario in JOB_RESULTS:
            assert job.wait(2) == JOB_RESULTS[scenario]
        elif hasattr(job, "wait"):  # inbound_answered: +OK <uuid of the new channel>
            result = job.wait(2)
            assert result.ok and re.fullmatch(r"[0-9a-f-]{36}", result.text), result


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_replay_api_responses_correlates_every_reply(servers, clients, fmt):
    esl = FIXTURES / f"api_responses.{fmt}.esl"
    frames = parse_frames(esl.read_bytes())
    bodies = [f.text for f in frames if f.content_type == "api/response"]
    _client, rec, results = replay(servers, clients, esl)
    api_results = [r for r in results if isinstance(r, str) and not r.startswith("-ERR command")]
    assert api_results == bodies
    assert "0904824242" in api_results and "-ERR No such channel!\n" in api_results
    jobs = [r for r in results if hasattr(r, "wait")]
    assert [j.job_uuid for j in jobs] == [f.headers["Job-UUID"] for f in frames if "Job-UUID" in f.headers]
    assert jobs[-1].job_uuid == "11111111-2222-3333-4444-555555555555"
    originate, failed, status = (j.wait(2) for j in jobs)
    assert originate == JobResult(False, "NORMAL_CLEARING")
    assert failed == JobResult(False, "USER_NOT_REGISTERED")
    assert status.ok and status.text.startswith("UP 0 years") and "is ready" in status.text
    assert results[-2] == "-ERR command not found"  # foobar
    same_events(rec.events, parse_capture(esl.read_bytes()))


@pytest.mark.parametrize("esl", [p for p in CALL_FILES if ".json." in p.name], ids=lambda p: p.name)
def test_replay_decoding_the_trackers_headers_tracks_as_whole_events(servers, clients, esl):
    """``headers=``: events decoded for the tracker's headers only, over real
    TCP in random chunks; the tracker's output and the bgapi results are
    those of whole events, and the tracker never needed a whole decode."""
    declared = Tracker()
    client, rec, jobs = replay(servers, clients, esl, headers=declared.event_headers())
    expected = parse_capture(esl.read_bytes())
    wait_until(lambda: len(rec.events) >= len(expected), what=f"{len(expected)} events")
    whole = Tracker()
    for partial, event in zip(rec.events, expected, strict=True):
        assert declared.handle(partial) == whole.handle(event)
        assert partial.undecoded is not None
    check_jobs(esl, jobs)  # resolved from the declared Job-UUID and the body
