"""delivery_admin (list, show, replay, purge), `esl-connector deliveries`,
the v2 migration on a populated v1 database, and the [delivery] settings."""

import pytest
from click.testing import CliRunner

from esl_connector.cli import main
from esl_connector.delivery import admin as delivery_admin
from esl_connector.delivery.store import Transition, apply_transition
from esl_connector.delivery.types import AttemptResult
from esl_connector.records import CALL_LOG, INCOMING_CALL
from esl_connector.settings.config import ConfigError, settings_from_dict
from storage.batch import write_batch
from storage.db import open_database
from storage.migrations import MIGRATIONS, current_version, latest_version, migrate
from storage.models import OutboxEvent
from storage.rows import Batch, outbox_row

from delivery_fixtures import add_events, crm_event, new_db

NOW = 1_700_000_000.0


def finish(db, row_id, status, customer="acme", error="", code=500):
    apply_transition(db, Transition(row_id, 0, status, 1, NOW, error, customer,
                                    finished_at=NOW if status != "retrying" else None,
                                    log=[AttemptResult("http://crm/x?secret=***", NOW, 12.5, code,
                                                       "", "oops")]))
    db.close()


@pytest.fixture
def db(backend):
    db = new_db(backend.url)
    add_events(db, [crm_event("c1", INCOMING_CALL), crm_event("c1", CALL_LOG),
                    crm_event("c2", INCOMING_CALL, "102"), crm_event("c3", INCOMING_CALL, "103")],
               NOW)
    finish(db, 1, "dead", error="permanent failure: HTTP 404")
    finish(db, 2, "dead", error="gave up")
    finish(db, 3, "dead", customer="beta")
    yield db
    db.close()


def test_list_show_and_replay(db):
    assert [e.id for e in delivery_admin.list_deliveries(db, status="dead", customer="acme")] == [2, 1]
    assert [e.id for e in delivery_admin.list_deliveries(db, callid="c1")] == [2, 1]
    detail = delivery_admin.get_delivery(db, delivery_admin.get_delivery(db, 1).event.event_id)
    assert detail.event.id == 1 and detail.attempts[0].status_code == 500
    assert detail.attempts[0].url == "http://crm/x?secret=***"
    assert delivery_admin.retry_all_dead(db, "acme", NOW + 5) == 2
    assert {e.id for e in delivery_admin.list_deliveries(db, status="pending")} == {1, 2, 4}
    row = delivery_admin.get_delivery(db, 1).event
    assert (row.attempts, row.replayed_at, row.last_error, row.finished_at) == (0, NOW + 5, "", None)
    assert delivery_admin.get_delivery(db, 3).event.status == "dead"  # another customer's
    with pytest.raises(delivery_admin.DeliveryAdminError):
        delivery_admin.retry(db, 99, NOW)


def test_retrying_a_due_row_only_makes_it_due_now(db):
    finish(db, 4, "retrying")
    row = delivery_admin.retry(db, 4, NOW - 100)
    assert (row.status, row.attempts, row.next_attempt_at) == ("retrying", 1, NOW - 100)


def test_purge_removes_old_dead_rows_and_their_attempts(db):
    assert delivery_admin.purge_finished(db, NOW - 1) == 0
    assert delivery_admin.purge_finished(db, NOW + 1) == 3
    assert [e.id for e in delivery_admin.list_deliveries(db)] == [4]


def test_cli_list_show_retry(backend, db, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[storage]\nurl = "{backend.url}"\n')
    run = CliRunner().invoke
    listed = run(main, ["deliveries", "list", "-c", str(config), "--status", "dead"])
    assert listed.exit_code == 0 and listed.output.count(" dead ") == 3
    assert "permanent failure: HTTP 404" in listed.output
    shown = run(main, ["deliveries", "show", "-c", str(config), "1"])
    assert shown.exit_code == 0 and "HTTP 500" in shown.output and "12.5 ms" in shown.output
    assert run(main, ["deliveries", "show", "-c", str(config), "77"]).exit_code == 1
    retried = run(main, ["deliveries", "retry", "-c", str(config), "3"])
    assert retried.exit_code == 0 and "is pending, due now" in retried.output
    all_dead = run(main, ["deliveries", "retry", "-c", str(config), "--all-dead", "--customer", "acme"])
    assert all_dead.exit_code == 0 and all_dead.output.startswith("2 dead deliveries of acme")
    assert run(main, ["deliveries", "retry", "-c", str(config), "--all-dead"]).exit_code == 2


def test_retry_since_replays_what_failed_in_the_window_dead_included(db):
    add_events(db, [crm_event("old", INCOMING_CALL)], NOW - 7200)  # row 5: failed long before
    apply_transition(db, Transition(5, 0, "dead", 1, NOW, "gave up", "acme", finished_at=NOW - 7000,
                                    log=[AttemptResult("u", NOW - 7000, 1.0, 500, "", "")]))
    finish(db, 4, "retrying")  # row 4: acme, failing now, next attempt scheduled later
    with db.connection_context():
        OutboxEvent.update(created_at=NOW - 7200, next_attempt_at=NOW + 3600).where(OutboxEvent.id == 4).execute(db)
    assert delivery_admin.retry_since(db, "acme", NOW - 60, NOW + 10) == (2, 1)
    rows = {e.id: e for e in delivery_admin.list_deliveries(db)}
    assert (rows[1].status, rows[2].status, rows[1].replayed_at) == ("pending", "pending", NOW + 10)
    assert (rows[4].status, rows[4].next_attempt_at) == ("retrying", NOW + 10)  # by its attempt at NOW
    assert rows[5].status == "dead" and rows[3].status == "dead"  # before the window; another customer


def test_since_is_epoch_iso_or_a_time_ago():
    assert delivery_admin.parse_since("30m", NOW) == NOW - 1800
    assert delivery_admin.parse_since("2h", NOW) == NOW - 7200 == delivery_admin.parse_since(" 2 h", NOW)
    assert delivery_admin.parse_since("1716000000", NOW) == 1716000000.0
    assert delivery_admin.parse_since("2024-05-18T02:40:00+00:00", NOW) == 1716000000.0
    with pytest.raises(ValueError, match="expected epoch seconds"):
        delivery_admin.parse_since("yesterday", NOW)


def test_cli_retry_since(backend, db, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[storage]\nurl = "{backend.url}"\n')
    run = CliRunner().invoke
    since = run(main, ["deliveries", "retry", "-c", str(config), "--customer", "acme", "--since", str(NOW - 60)])
    assert since.exit_code == 0 and since.output.startswith("acme: 2 dead deliveries replayed and 0 retrying")
    assert run(main, ["deliveries", "retry", "-c", str(config), "--since", "1h"]).exit_code == 2
    bad = run(main, ["deliveries", "retry", "-c", str(config), "--customer", "acme", "--since", "soon"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_v2_migration_keeps_v1_rows(backend):
    db = open_database(backend.url)
    assert migrate(db, MIGRATIONS[:1]) == 1
    row = outbox_row(crm_event("c1", INCOMING_CALL), NOW)
    with db.connection_context():
        db.execute_sql("INSERT INTO outbox (event_id, event_type, callid, extension, domain, "
                       "params, occurred_at, created_at, status, attempts, next_attempt_at, "
                       "last_error) VALUES (%s, %s, %s, %s, %s, '{}', 1, %s, 'pending', 0, %s, '')".replace("%s", db.param),
                       (row["event_id"], INCOMING_CALL, "c1", "101", "d1", NOW, NOW))
    assert migrate(db) == current_version(db) == latest_version() >= 2
    [event] = delivery_admin.list_deliveries(db)
    assert (event.event_id, event.customer, event.replayed_at, event.finished_at) == (
        row["event_id"], "", 0.0, None)
    if backend.is_postgres:  # ids are still never reused
        assert backend.rows("SELECT column_default FROM information_schema.columns "
                            "WHERE table_name = 'outbox' AND column_name = 'id'") == [("nextval('outbox_id_seq'::regclass)",)]
    else:
        assert "AUTOINCREMENT" in backend.rows("SELECT sql FROM sqlite_master WHERE name = 'outbox'")[0][0]
    write_batch(db, Batch(events=[outbox_row(crm_event("c2", INCOMING_CALL), NOW)]))
    with db.connection_context():
        assert OutboxEvent.select().count() == 2
    db.close()


def test_delivery_settings_are_validated():
    with pytest.raises(ConfigError) as error:
        settings_from_dict({"delivery": {"workers": 0, "read_timeout": 0, "dead_retention": -1,
                                         "user_agent": "a\nb"}}, env={})
    assert sorted(error.value.problems) == [
        "delivery.dead_retention: must be >= 0 (0 keeps dead rows forever)",
        "delivery.read_timeout: must be > 0",
        "delivery.user_agent: must be one line",
        "delivery.workers: must be between 1 and 1000"]
    assert settings_from_dict({}, env={}).delivery.max_age == 3 * 86400
