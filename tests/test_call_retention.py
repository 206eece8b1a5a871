"""``storage.call_retention``: a running connector deletes the calls that
ended longer ago than that, with their CRM events and delivery attempts, on
a real SQLite file and a real PostgreSQL database; recent calls and calls
with an event still to deliver stay."""

import pytest

from esl_connector.settings.config import ConfigError, settings_from_dict
from esl_connector.simulator import Simulator, run_scenario
from storage import queries

from connector_harness import outbox, start_connector, wait_outbox
from esl_fake_server import wait_until

DAY = 86400.0


def test_call_retention_is_off_by_default_and_must_be_zero_or_at_least_a_day():
    assert settings_from_dict({}, env={}).storage.call_retention == 0
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"storage": {"call_retention": 3600}}, env={})
    assert any(p.startswith("storage.call_retention: must be 0") for p in info.value.problems)


def test_calls_ended_before_the_retention_go_with_their_events_and_the_others_stay(backend):
    sim = Simulator(speed=40.0, extensions=["101"]).start()
    host, port = sim.address
    try:
        first = start_connector(backend.url, host, port)
        try:
            for _ in range(3):
                assert run_scenario(sim.pbx, "inbound_answered").wait(30)
            wait_outbox(first, 6)
            wait_until(lambda: len(queries.list_calls(first.db, active=False)) == 3, what="three calls ended")
            wait_until(lambda: {r.status for r in queries.list_outbox(first.db)} == {"skipped"}, timeout=20,
                       what="the delivery engine done with every row (no customer: skipped)")
        finally:
            first.stop()
        old, due, recent = [c.callid for c in reversed(queries.list_calls(first.db))]
        # as if two of them ended 100 days ago; one still has a webhook to send
        backend.execute("UPDATE calls SET ended_at = ended_at - ? WHERE callid IN (?, ?)", (100 * DAY, old, due))
        backend.execute("UPDATE outbox SET status = 'retrying' WHERE callid = ?", (due,))

        second = start_connector(backend.url, host, port, storage={"call_retention": 90 * DAY})
        try:
            wait_until(lambda: second.call_retention.purged == 1, what="the first retention pass")
            assert queries.get_call(second.db, old) is None
            assert outbox(second, old) == []
            assert queries.get_call(second.db, due) is not None and len(outbox(second, due)) == 2
            assert queries.get_call(second.db, recent) is not None and len(outbox(second, recent)) == 2
        finally:
            second.stop()
    finally:
        sim.stop()
