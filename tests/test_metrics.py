"""GET /metrics scraped from a real running connector (simulated FreeSWITCH
over TCP, a local CRM over HTTP, SQLite and PostgreSQL): the figures move as
calls, deliveries, reconnects and click-to-calls happen; auth as the status API."""

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from esl_connector.api.metrics import ConnectorMetrics, endpoint_of_url
from esl_connector.api.metrics_state import StateCollector, StateSources
from esl_connector.app import Connector
from esl_connector.crm_receiver import CrmReceiver
from esl_connector.records import INCOMING_CALL, Changes, CrmEvent
from esl_connector.simulator import Simulator, run_scenario

from connector_harness import connector_settings
from esl_fake_server import wait_until

TOKEN = "metrics-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict:
    """{(sample name, frozenset(labels)): value} of an exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, frozenset(s.labels.items()))] = s.value
    return found


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def world(backend):
    crm = CrmReceiver().start()
    sim = Simulator(speed=40, extensions=["101", "102"]).start()
    settings = connector_settings(backend.url, *sim.address, http={"api_token": TOKEN})
    settings.customers = [{"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "101-102"}]
    connector = Connector(settings).start()
    wait_until(lambda: connector.resyncs, what="connected and resynced")
    yield sim, crm, connector
    connector.stop()
    sim.stop()
    crm.stop()


def scrape(connector, headers=AUTH) -> dict:
    r = requests.get(connector.http.url + "/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    return samples(r.text)


def test_calls_deliveries_and_the_link_move_the_figures(world):
    sim, crm, connector = world
    node = "default"
    endpoint = endpoint_of_url(crm.url)
    before = scrape(connector)
    assert value(before, "esl_connector_esl_connected", node=node) == 1
    assert value(before, "esl_connector_calls_active") == 0
    assert value(before, "esl_connector_info", version=__import__("esl_connector").__version__) == 1
    assert value(before, "process_resident_memory_bytes") > 0  # this process's own figures too

    sim.pbx.configure("101", answer_after=0.5, talk_time=600.0)
    sim.pbx.register("101")
    call = sim.pbx.inbound_call(caller="0904824242", did="19001234", ring=["101"])
    wait_until(lambda: value(scrape(connector), "esl_connector_calls_active") == 1, what="one call active")
    wait_until(lambda: len(crm.requests) >= 1, timeout=30, what="incoming_call delivered")
    during = scrape(connector)
    assert value(during, "esl_connector_calls_active_by_direction", direction="inbound") == 1
    assert value(during, "esl_connector_esl_events_total", node=node, event="CHANNEL_CREATE") >= 2
    assert value(during, "esl_connector_crm_events_total", event_type=INCOMING_CALL) == 1
    call.kill("NORMAL_CLEARING")
    assert call.wait(10)
    wait_until(lambda: len(crm.requests) >= 2, timeout=30, what="call log delivered")

    crm.fail_next(1, 503)  # the next call's first webhook fails once, then goes through
    assert run_scenario(sim.pbx, "outbound_from_extension").wait(30)
    wait_until(lambda: len(crm.requests) >= 5, timeout=30, what="a retry and the second call's webhooks")
    wait_until(lambda: value(scrape(connector), "esl_connector_outbox_depth", customer="acme") == 0,
               what="outbox drained")
    # A delivery process reports its outcomes just after their commit, over its link.
    wait_until(lambda: value(scrape(connector), "esl_connector_outbox_results_total", customer="acme",
                             status="delivered") == 4, what="the outcomes counted")
    after = scrape(connector)
    assert value(after, "esl_connector_calls_active") == 0
    assert value(after, "esl_connector_crm_events_total", event_type="call_answered") == 2
    assert value(after, "esl_connector_delivery_requests_total", customer="acme", endpoint=endpoint,
                 outcome="delivered") == 4
    assert value(after, "esl_connector_delivery_requests_total", customer="acme", endpoint=endpoint,
                 outcome="retry") == 1
    assert value(after, "esl_connector_outbox_results_total", customer="acme", status="delivered") == 4
    assert value(after, "esl_connector_outbox_results_total", customer="acme", status="retrying") == 1
    assert value(after, "esl_connector_delivery_latency_seconds_count", customer="acme") == 4
    assert value(after, "esl_connector_delivery_request_duration_seconds_count", customer="acme",
                 endpoint=endpoint) == 5
    assert value(after, "esl_connector_outbox_rows", customer="acme", status="delivered") == 4
    assert value(after, "esl_connector_outbox_oldest_pending_age_seconds", customer="acme") == 0
    assert value(after, "esl_connector_writer_commit_seconds_count") >= 2
    assert value(after, "esl_connector_writer_commits_total") >= 2
    assert value(after, "esl_connector_scrape_source_up", source="outbox") == 1

    sim.server.drop_connections()
    wait_until(lambda: value(scrape(connector), "esl_connector_esl_reconnects_total", node=node) == 1
               and connector.client.connected, timeout=10, what="reconnect counted")
    assert value(scrape(connector), "esl_connector_esl_connected", node=node) == 1


def test_a_waiting_backlog_shows_its_depth_and_age(world):
    sim, crm, connector = world
    connector.deliverer.stop()  # nothing is sent: the rows stay due
    connector.writer.submit(Changes(crm_events=[CrmEvent(INCOMING_CALL, "c1", "101", "", {"callid": "c1"}, 1.0)]))
    assert connector.writer.flush(5)
    wait_until(lambda: value(scrape(connector), "esl_connector_outbox_depth", customer="acme") == 1,
               what="one row due")
    scraped = scrape(connector)
    assert value(scraped, "esl_connector_outbox_rows", customer="acme", status="pending") == 1
    assert value(scraped, "esl_connector_outbox_oldest_pending_age_seconds", customer="acme") > 0


def test_click2call_requests_are_counted_by_result(world):
    sim, crm, connector = world
    url = connector.http.url + "/wsapi/acme/click2call.php"
    assert requests.get(url, params={"secret": "wrong", "extension": "101", "phone": "0904824242"}).status_code == 401
    assert requests.get(url, params={"secret": "s3cr3t", "extension": "101", "phone": "x"}).status_code == 400
    sim.pbx.register("101")
    wait_until(lambda: connector.writer.flush(1) and requests.get(url, params={
        "secret": "s3cr3t", "extension": "101", "phone": "0904824242"}).status_code == 200,
        what="a click-to-call accepted")
    scraped = scrape(connector)
    assert value(scraped, "esl_connector_click2call_requests_total", result="invalid_secret") == 1
    assert value(scraped, "esl_connector_click2call_requests_total", result="success") == 1
    assert sum(v for (name, labels), v in scraped.items()
               if name == "esl_connector_click2call_requests_total") >= 3


def test_metrics_are_protected_like_the_status_api(world):
    sim, crm, connector = world
    url = connector.http.url + "/metrics"
    assert requests.get(url).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    openmetrics = requests.get(url, headers={**AUTH, "Accept": "application/openmetrics-text"})
    assert openmetrics.headers["Content-Type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")
    http = connector.settings.http
    http.api_token = ""  # no token: loopback only, and only while bound to loopback
    assert requests.get(url).status_code == 200
    http.host = "0.0.0.0"
    r = requests.get(url)
    assert r.status_code == 403 and r.json()["code"] == "status_api_disabled"


def test_each_connector_has_its_own_registry_and_a_failing_source_does_not_fail_the_scrape():
    first, second = ConnectorMetrics("a:1"), ConnectorMetrics("a:1")  # no duplicate-metric error
    first.changes_made(Changes(crm_events=[CrmEvent(INCOMING_CALL, "c1", "101", "", {}, 1.0)]))
    assert value(samples(first.exposition()[0].decode()), "esl_connector_crm_events_total",
                 event_type=INCOMING_CALL) == 1
    assert value(samples(second.exposition()[0].decode()), "esl_connector_crm_events_total",
                 event_type=INCOMING_CALL) == 0
    second.watch(StateCollector(StateSources(db=object())))  # not a database: the outbox read fails
    scraped = samples(second.exposition()[0].decode())
    assert value(scraped, "esl_connector_scrape_source_up", source="outbox") == 0
    assert not any(name.startswith("esl_connector_outbox_") for name, _ in scraped)
