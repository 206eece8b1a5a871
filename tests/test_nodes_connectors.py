"""Two connectors sharing one database (SQLite file, PostgreSQL), each with
its own FreeSWITCH node: real ``esl-connector run`` processes, each against
its own simulator. Each one's status API (and so its TUI) lists its own
nodes' extensions and calls; ``nodes=all`` lists every node's, ``node=``
any one node's."""

import pytest

from esl_connector.crm_receiver import CrmReceiver
from esl_connector.simulator import Simulator

from esl_fake_server import wait_until
from restart_harness import ChannelReads, ConnectorProcess, write_config

EXTENSIONS = {"pbx1": ["101", "102"], "pbx2": ["201", "202"]}


@pytest.fixture
def pair(backend, tmp_path):
    """{node: (simulator, connector process)}: connector pbx1 follows node pbx1 only, and so on."""
    crm = CrmReceiver().start()
    made = {}
    for node, extensions in EXTENSIONS.items():
        sim = Simulator(speed=20.0, extensions=extensions, heartbeat_interval=20.0, hostname=node).start()
        sim.pbx.register_all()
        config = write_config(tmp_path / f"{node}.toml", backend.url, sim.address[1], crm.url, "101-299",
                              node=node, delivery=f'instance = "{node}"')
        made[node] = (sim, ConnectorProcess(config, tmp_path / f"{node}.log", ChannelReads(sim)))
    for _, process in made.values():
        process.start()  # one after the other: the first migrates the database
    yield made
    for sim, process in made.values():
        process.kill_if_running()
        sim.stop()
    crm.stop()


def extensions(process, **params) -> set[tuple[str, str]]:
    reply = process.api("/api/v1/extensions", **params)
    assert reply.status_code == 200, reply.text
    return {(row["node"], row["extension"]) for row in reply.json()["extensions"]}


def calls(process, **params) -> set[tuple[str, str]]:
    reply = process.api("/api/v1/calls", **params)
    assert reply.status_code == 200, reply.text
    return {(row["node"], row["extension"]) for row in reply.json()["calls"]}


def answered_call(sim, extension: str):
    sim.pbx.configure(extension, answer_after=0.5, talk_time=6000.0)
    call = sim.pbx.inbound_call(caller="0904824242", did="19001234", ring=[extension])
    wait_until(lambda: call.legs.get(f"agent:{extension}") is not None and call.legs[f"agent:{extension}"].answered,
               what=f"{extension} answered")
    return call


def test_each_connector_lists_its_own_nodes_extensions_and_every_nodes_on_request(pair):
    everyone = {(node, ext) for node, exts in EXTENSIONS.items() for ext in exts}
    (_, first), (_, second) = pair["pbx1"], pair["pbx2"]
    wait_until(lambda: extensions(first, nodes="all") == everyone, timeout=20,
               what="both connectors' extensions stored")
    assert extensions(first) == {("pbx1", "101"), ("pbx1", "102")}
    assert extensions(second) == {("pbx2", "201"), ("pbx2", "202")}
    assert extensions(second, nodes="all") == everyone
    assert extensions(first, node="pbx2") == {("pbx2", "201"), ("pbx2", "202")}  # any node, named
    refused = first.api("/api/v1/extensions", nodes="mine")
    assert refused.status_code == 400 and "nodes" in refused.text and "all" in refused.text


def test_each_connector_lists_its_own_nodes_calls_and_counts_only_those_in_progress(pair):
    (sim1, first), (sim2, second) = pair["pbx1"], pair["pbx2"]
    live = [answered_call(sim1, "101"), answered_call(sim2, "201")]
    wait_until(lambda: calls(first, nodes="all") == {("pbx1", "101"), ("pbx2", "201")}, timeout=20,
               what="both calls stored")
    assert calls(first) == {("pbx1", "101")} and calls(second) == {("pbx2", "201")}
    assert calls(first, active="true") == {("pbx1", "101")}
    assert first.health()["calls"]["active"] == 1
    assert first.api("/api/v1/health", nodes="all").json()["calls"]["active"] == 2
    assert sum(first.api("/api/v1/metrics").json()["calls_per_minute"]) == 1
    assert sum(first.api("/api/v1/metrics", nodes="all").json()["calls_per_minute"]) == 2
    for call in live:
        call.kill()
        assert call.wait(10)
