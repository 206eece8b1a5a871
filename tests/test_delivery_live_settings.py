"""A reload as the delivery engine takes it (``delivery.live_settings``), on a
running engine, a real HTTP CRM on port 0 and a real database (SQLite and
PostgreSQL): new limits and timeouts count for what is sent from then on; a
replaced endpoint holds nothing back; rows of a removed customer are kept."""

import dataclasses
import time

import gevent
import pytest
from gevent.event import Event

from esl_connector.delivery import admin as delivery_admin
from esl_connector.delivery import webhooks
from esl_connector.delivery.engine import DeliveryEngine
from esl_connector.delivery.health import HealthPolicy
from esl_connector.delivery.live_settings import apply_customers, apply_delivery_settings
from esl_connector.records import INCOMING_CALL
from esl_connector.settings.config import DeliverySettings
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import CustomerDirectory
from storage import queries

from delivery_fixtures import ScriptedCrm, add_events, crm_event, new_db, planner, wait_until


@pytest.fixture
def crm():
    server = ScriptedCrm().start()
    yield server
    if server.gate is not None:
        server.gate.set()
    server.stop()


@pytest.fixture
def db(backend):
    db = new_db(backend.url)
    yield db
    db.close()


@pytest.fixture
def engine(db):
    made = []

    def make(plan_for, **kwargs):
        made.append(DeliveryEngine(db, plan_for, poll_interval=0.05, **kwargs).start())
        return made[-1]
    yield make
    for e in made:
        e.stop(timeout=1.0)


def directory(*customers: tuple[str, str, str]) -> CustomerDirectory:
    """(code, extensions, CRM base URL) each."""
    return CustomerDirectory(parse_customers(
        [{"code": code, "extensions": extensions, "domain_crm": url, "secret": "s3cret-" + code}
         for code, extensions, url in customers], {}))


def test_more_workers_take_more_rows_at_once_on_a_running_engine(db, crm, engine):
    crm.gate = Event()  # the CRM holds every request
    add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(6)], 1.0)
    running = engine(planner({"101": ("acme", crm.url)}), workers=1, per_endpoint=10)
    wait_until(lambda: crm.holding == 1, what="one request in flight")

    apply_delivery_settings(running, dataclasses.replace(DeliverySettings(), workers=3,
                                                         per_endpoint_concurrency=10))
    wait_until(lambda: crm.holding == 3, what="three requests in flight")
    assert running.status().workers == 3
    crm.gate.set()
    wait_until(lambda: len(crm.requests) == 6, what="every row sent")


def test_fewer_workers_let_those_in_flight_finish_then_take_one_row_at_a_time(db, crm, engine):
    first = crm.gate = Event()
    add_events(db, [crm_event(f"c{n}", INCOMING_CALL) for n in range(6)], 1.0)
    running = engine(planner({"101": ("acme", crm.url)}), workers=3, per_endpoint=10)
    wait_until(lambda: crm.holding == 3, what="three requests in flight")

    apply_delivery_settings(running, dataclasses.replace(DeliverySettings(), workers=1,
                                                         per_endpoint_concurrency=10))
    assert running.status().workers == 1 and crm.holding == 3  # nothing in flight was cut
    crm.gate = Event()  # holds the requests sent from now on
    first.set()
    wait_until(lambda: len(crm.requests) == 3 and crm.holding == 1, what="the three answered, one more sent")
    running.wake()
    deadline = time.monotonic() + 0.5  # time for the dispatcher to send more, if it could
    while time.monotonic() < deadline:
        assert crm.holding == 1
        gevent.sleep(0.02)
    crm.gate.set()
    wait_until(lambda: len(crm.requests) == 6, what="every row sent")


def test_a_shorter_read_timeout_counts_from_the_next_request(db, crm, engine):
    crm.gate = Event()
    running = engine(planner({"101": ("acme", crm.url)}), read_timeout=300.0)  # far past any wait here
    apply_delivery_settings(running, dataclasses.replace(DeliverySettings(), read_timeout=0.3))
    add_events(db, [crm_event("c1", INCOMING_CALL)], time.time())
    running.wake()
    wait_until(lambda: delivery_admin.get_delivery(db, 1).event.status == "retrying", timeout=30,
               what="the request timed out")
    assert "read timeout after 0.3 s" in delivery_admin.get_delivery(db, 1).event.last_error


def test_an_endpoint_the_customer_no_longer_uses_is_forgotten_by_the_health_tracker(db, engine):
    add_events(db, [crm_event("c1", INCOMING_CALL)], 1.0)
    nobody_listens = "http://127.0.0.1:9"
    running = engine(planner({"101": ("acme", nobody_listens)}), health=HealthPolicy(1, 600.0, 600.0))
    wait_until(lambda: "acme" in running.health.blocked_customers(), timeout=30, what="the endpoint down")

    apply_customers(running, directory(("acme", "101", "http://127.0.0.1:9")),
                    directory(("acme", "101", "http://127.0.0.1:10")), renewed=["acme"])
    assert "acme" not in running.health.blocked_customers()
    assert [s["endpoint"] for s in running.health.snapshot()] == []


def test_untried_rows_of_a_removed_customer_are_kept_as_its_own_and_never_skipped(db):
    add_events(db, [crm_event("c1", INCOMING_CALL, "101"), crm_event("c2", INCOMING_CALL, "201")], 1.0)
    old = directory(("acme", "101", "http://127.0.0.1:9"), ("beta", "201", "http://127.0.0.1:10"))
    new = directory(("beta", "201", "http://127.0.0.1:10"))
    idle = DeliveryEngine(db, webhooks.planner(new))  # not started: the database is used directly

    assert apply_customers(idle, old, new, renewed=[]) == 1
    rows = {event.extension: event for event, _params in queries.due_for_delivery(db, 2.0, "pending")}
    assert (rows["101"].customer, rows["201"].customer) == ("acme", "")
    with pytest.raises(webhooks.CustomerRemoved, match="customer acme is no longer in the configuration"):
        idle.plan_for(rows["101"], {})
    assert idle.plan_for(rows["201"], {}).customer == "beta"

    new.replace(old.customers)  # acme is back
    assert idle.plan_for(rows["101"], {}).customer == "acme"
