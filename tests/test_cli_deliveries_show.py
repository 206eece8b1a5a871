"""`esl-connector deliveries show` prints each attempt's request as it went
out (method, URL, aligned headers, the body; secrets as ***) and the answer,
from a real database (SQLite and PostgreSQL) filled by a real connector that
delivered one webhook and failed another against real CRM receivers."""

import json

import pytest
from click.testing import CliRunner

from esl_connector.app import Connector
from esl_connector.cli import main
from esl_connector.crm_receiver import CrmReceiver
from esl_connector.simulator import Simulator, run_scenario
from storage import queries

from connector_harness import connector_settings
from delivery_fixtures import ScriptedCrm
from esl_fake_server import wait_until

SECRET = "acme-secret-7731"
TOKEN = "bearer-token-5520-acme"


@pytest.fixture
def delivered_and_failed(backend, tmp_path):
    """incoming_call delivered (GET, secret in the URL); call_answered refused
    with 503 (POST, JSON body with the secret, a bearer token). Yields the
    configuration file the CLI reads, and the two rows' ids."""
    ring = CrmReceiver().start()
    logs = ScriptedCrm(policy=lambda r: (503, {})).start()
    sim = Simulator(speed=40, extensions=["101", "102"]).start()
    settings = connector_settings(backend.url, *sim.address)
    settings.customers = [{
        "code": "acme", "domain_crm": ring.url, "secret": SECRET, "extensions": "101-102",
        "events": {"call_answered": {"url": f"{logs.url}/crm/acme/log", "secret_in": "body",
                                     "auth": {"type": "bearer", "token": TOKEN}}}}]
    connector = Connector(settings).start()
    try:
        wait_until(lambda: connector.resyncs, what="connected and resynced")
        assert run_scenario(sim.pbx, "inbound_answered").wait(30)
        wait_until(lambda: ring.requests and logs.requests, timeout=30, what="both webhooks sent")
        wait_until(lambda: {r.event_type: r.status for r in queries.list_outbox(connector.db)}
                   == {"incoming_call": "delivered", "call_answered": "retrying"}, timeout=10,
                   what="one delivered, one retrying")
        ids = {r.event_type: r.id for r in queries.list_outbox(connector.db)}
    finally:
        connector.stop()
        sim.stop()
        ring.stop()
        logs.stop()
    config = tmp_path / "show.toml"
    config.write_text(f'[storage]\nurl = "{backend.url}"\n')
    yield config, ids


def show(config, key, *options):
    result = CliRunner().invoke(main, ["deliveries", "show", "-c", str(config), *options, str(key)])
    assert result.exit_code == 0, result.output
    return result.output


def section(output: str, label: str) -> list[str]:
    """The lines of one labelled block of an attempt (``  body  ...`` and its continuation)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {label} "))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(" " * 14)), len(lines))
    return lines[start:end]


def test_a_failed_attempt_shows_its_request_headers_aligned_and_its_json_body(delivered_and_failed):
    config, ids = delivered_and_failed
    out = show(config, ids["call_answered"])
    assert SECRET not in out and TOKEN not in out
    attempt = next(line for line in out.splitlines() if line.startswith("attempt 1 "))
    assert "HTTP 503" in attempt and " ms" in attempt
    request = section(out, "request")
    method, url = request[0].split()[1:]
    assert method == "POST" and url.endswith("/crm/acme/log")
    headers = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in request[1:]}
    assert headers["Authorization"] == "Bearer ***" and headers["Content-Type"] == "application/json"
    assert {"X-Event-Id", "Content-Length", "User-Agent"} <= set(headers)
    values_at = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in request[1:]}
    assert len(values_at) == 1  # every value starts in the same column
    body = section(out, "body")
    as_json = json.loads("\n".join(line[14:] for line in body if not line[14:].startswith("(")))
    assert as_json["secret"] == "***" and as_json["callid"] and as_json["billsec"] >= 0
    assert body[-1].strip() == "(as sent; secrets are ***)"


def test_a_delivered_get_shows_its_url_with_the_secret_masked_and_no_body(delivered_and_failed):
    config, ids = delivered_and_failed
    out = show(config, ids["incoming_call"])
    assert SECRET not in out
    assert "HTTP 200" in next(line for line in out.splitlines() if line.startswith("attempt 1 "))
    request = section(out, "request")
    assert request[0].split()[1] == "GET" and "/wsapi/acme/incoming_call?secret=***&" in request[0]
    assert not any(line.strip().startswith("Authorization") for line in request)
    assert section(out, "body") == ["  body        (none: the parameters are in the URL)"]


def test_a_long_body_is_cut_on_screen_with_a_note_and_shown_whole_on_request(delivered_and_failed):
    config, ids = delivered_and_failed
    whole = section(show(config, ids["call_answered"], "--body-lines", "0"), "body")
    cut = section(show(config, ids["call_answered"], "--body-lines", "3"), "body")
    body_lines = len(whole) - 1  # the "as sent" note
    assert cut[:3] == whole[:3]
    assert cut[3].strip() == f"... {body_lines - 3} more lines (--body-lines 0 shows them all)"
    assert "more lines" not in "\n".join(whole)


def test_an_attempt_recorded_before_requests_were_kept_says_so(delivered_and_failed, backend):
    config, ids = delivered_and_failed
    backend.execute("UPDATE delivery_attempts SET request = NULL")
    request = section(show(config, ids["call_answered"]), "request")
    assert request[0].split()[1].endswith("/crm/acme/log")
    assert "not stored" in request[1]
