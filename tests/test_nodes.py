"""One connector, two FreeSWITCH nodes (two simulators over real TCP), on
SQLite and PostgreSQL: each node's calls tracked and delivered with their
node, the same extension on both kept apart, one node down while the other
goes on, click-to-call sent to the node the extension is registered on."""

import json
from pathlib import Path

import pytest
import requests
from nodes_harness import AUTH, TwoNodes, start_simulator

from storage import queries

from esl_fake_server import wait_until
from recordings import FIXTURES


@pytest.fixture
def nodes(backend):
    made = TwoNodes(backend.url)
    yield made
    made.stop()


def answered_call(sim, extension: str, talk_time: float = 40.0):
    sim.pbx.configure(extension, answer_after=0.5, talk_time=talk_time)
    return sim.pbx.inbound_call(caller="0904824242", did="19001234", ring=[extension])


def stored(nodes, callid: str):
    nodes.connector.writer.flush(1)
    return queries.get_call(nodes.connector.db, callid)


def test_calls_on_both_nodes_are_tracked_delivered_and_carry_their_node(nodes):
    nodes.register("a", "101", "102")
    nodes.register("b", "101", "201")
    on_a, on_b = answered_call(nodes.sims["a"], "101"), answered_call(nodes.sims["b"], "101")
    wait_until(lambda: nodes.extensions()[("a", "101")] == "in_call" and nodes.extensions()[("b", "101")]
               == "in_call", timeout=10, what="101 in a call on both nodes")
    assert nodes.extensions()[("a", "102")] == "idle" and nodes.extensions()[("b", "201")] == "idle"
    assert on_a.wait(15) and on_b.wait(15)
    a_id, b_id = on_a.legs["did"].uuid, on_b.legs["did"].uuid
    wait_until(lambda: a_id in nodes.logs() and b_id in nodes.logs(), timeout=30, what="both call logs")
    wait_until(lambda: nodes.extensions()[("a", "101")] == "idle", timeout=30, what="101 idle again on a")
    assert (stored(nodes, a_id).node, stored(nodes, b_id).node) == ("a", "b")
    # Each node's CDRs (posted by mod_json_cdr) found their call: one call log each, never two.
    wait_until(lambda: nodes.connector.cdrs.accepted >= 4, timeout=30, what="the four legs' CDRs")
    assert [len(nodes.logs()[i]) for i in (a_id, b_id)] == [1, 1]
    assert {c["callid"] for c in nodes.get("/api/v1/calls", node="b")["calls"]} == {b_id}
    assert len(nodes.crm.of_type("incoming_call")) == 2  # one per call


def test_the_same_extension_on_two_nodes_is_two_rows_each_with_its_own_state(nodes):
    nodes.register("a", "101")
    nodes.register("b", "101")
    rows = nodes.get("/api/v1/extensions")["extensions"]
    assert sorted((e["node"], e["extension"], e["state"]) for e in rows if e["extension"] == "101") == [
        ("a", "101", "idle"), ("b", "101", "idle")]
    nodes.sims["b"].pbx.unregister("101")
    wait_until(lambda: nodes.extensions()[("b", "101")] == "offline", timeout=30, what="101 gone from b")
    assert nodes.extensions()[("a", "101")] == "idle"
    assert [(e["node"], e["extension"]) for e in nodes.get("/api/v1/extensions", node="a")["extensions"]] == [("a", "101")]


def test_one_node_down_never_stops_the_other_and_its_return_touches_only_its_own_calls(nodes):
    nodes.register("a", "101", "102")
    nodes.register("b", "201")
    long_on_a = answered_call(nodes.sims["a"], "101", talk_time=600.0)
    wait_until(lambda: nodes.extensions()[("a", "101")] == "in_call", timeout=30, what="a call on a")
    port_b = nodes.sims["b"].address[1]
    nodes.sims["b"].stop()
    wait_until(lambda: nodes.get("/api/v1/health")["nodes_down"] == ["b"], timeout=30, what="b seen down")
    health = nodes.get("/api/v1/health")
    assert health["status"] == "degraded"
    assert [(n["node"], n["connected"]) for n in health["nodes"]] == [("a", True), ("b", False)]
    metrics = requests.get(nodes.url + "/metrics", headers=AUTH, timeout=5).text
    assert 'esl_connector_esl_connected{node="a"} 1.0' in metrics
    assert 'esl_connector_esl_connected{node="b"} 0.0' in metrics

    while_b_down = answered_call(nodes.sims["a"], "102", talk_time=1.0)
    assert while_b_down.wait(15)
    wait_until(lambda: while_b_down.legs["did"].uuid in nodes.logs(), timeout=30,
               what="a's call log delivered while b is down")

    nodes.sims["b"] = start_simulator("sw-b", ["201"], port=port_b)
    nodes.sims["b"].pbx.register("201")
    wait_until(lambda: nodes.get("/api/v1/health")["status"] == "ok", timeout=30, what="b back")
    wait_until(lambda: nodes.connector.links[1].resyncs >= 2, timeout=30, what="b resynced")
    # b's resync compared b's calls only: a's call in progress is still live, untouched.
    assert stored(nodes, long_on_a.legs["did"].uuid).state == "active"
    long_on_a.kill("NORMAL_CLEARING")
    assert long_on_a.wait(10)
    callid = long_on_a.legs["did"].uuid
    wait_until(lambda: callid in nodes.logs(), timeout=30, what="the long call's log")
    call = stored(nodes, callid)
    assert (call.end_source, call.hangup_cause, call.node) == ("", "NORMAL_CLEARING", "a")


def test_a_restart_takes_up_each_nodes_calls_on_their_own_node(nodes):
    nodes.register("a", "102")
    nodes.register("b", "101")
    on_a, on_b = answered_call(nodes.sims["a"], "102", 600.0), answered_call(nodes.sims["b"], "101", 600.0)
    wait_until(lambda: nodes.extensions()[("a", "102")] == nodes.extensions()[("b", "101")] == "in_call",
               timeout=10, what="a call on each node")
    nodes.restart()
    for link, call in zip(nodes.connector.links, (on_a, on_b)):
        assert [c.callid for c in link.tracker.calls.active_calls()] == [call.legs["did"].uuid]
    on_b.kill("NORMAL_CLEARING")
    on_a.kill("NORMAL_CLEARING")
    assert on_a.wait(10) and on_b.wait(10)
    ids = [on_a.legs["did"].uuid, on_b.legs["did"].uuid]
    wait_until(lambda: all(i in nodes.logs() for i in ids), timeout=30, what="both call logs")
    assert [len(nodes.logs()[i]) for i in ids] == [1, 1]
    assert [(stored(nodes, i).node, stored(nodes, i).end_source) for i in ids] == [("a", ""), ("b", "")]
    assert nodes.extensions()[("b", "101")] == "idle"


def test_click_to_call_goes_to_the_node_where_the_extension_is_registered(nodes):
    nodes.register("b", "201")
    answer = nodes.click2call("201")
    assert answer.status_code == 200, answer.text
    callid = answer.json()["callid"]
    wait_until(lambda: nodes.originates("b"), timeout=30, what="the originate on b")
    assert nodes.originates("a") == []
    wait_until(lambda: (c := stored(nodes, callid)) is not None and c.node == "b", timeout=30,
               what="the click-to-call stored on b")

    nodes.register("a", "101")
    nodes.register("b", "101")  # the most recent registration wins
    assert nodes.click2call("101").status_code == 200
    wait_until(lambda: len(nodes.originates("b")) == 2, timeout=30, what="101's originate on b")
    assert nodes.originates("a") == []


def test_click_to_call_to_an_extension_registered_nowhere_is_refused_clearly(nodes):
    answer = nodes.click2call("250")
    assert answer.status_code == 409
    assert answer.json()["code"] == "extension_unregistered"
    assert "registered on no FreeSWITCH node (a, b)" in answer.json()["message"]
    assert nodes.originates("a") == nodes.originates("b") == []


def test_a_default_node_takes_the_click_to_calls_of_unregistered_extensions(backend):
    made = TwoNodes(backend.url, click2call={"default_node": "b"}, cdrs=False)
    try:
        assert made.click2call("250").status_code == 200
        wait_until(lambda: made.originates("b"), timeout=30, what="the originate on the default node")
        assert made.originates("a") == []
    finally:
        made.stop()


def test_a_cdr_of_a_call_no_node_saw_goes_to_the_node_that_wrote_it(backend):
    """The recorded CDRs come from a FreeSWITCH whose switchname is "vm": the
    node named so takes them, though it is not the first."""
    made = TwoNodes(backend.url, names=("pbx1", "vm"))
    try:
        for leg in ("agent", "customer"):
            doc = json.loads((Path(FIXTURES) / f"json_cdr.click_to_call.{leg}_leg.json").read_text())
            assert made.connector.cdrs.accept(doc, "http") == "accepted"
        callid = doc["variables"]["call_uuid"]
        wait_until(lambda: callid in made.logs(), timeout=30, what="the call log from the CDRs")
        assert stored(made, callid).node == "vm"
        assert len(made.logs()[callid]) == 1
    finally:
        made.stop()
