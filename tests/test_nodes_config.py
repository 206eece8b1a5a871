"""Configuring several FreeSWITCH nodes: a list of [[freeswitch]] tables, or
the single [freeswitch] table as before (one node named "default")."""

import subprocess
import sys
from pathlib import Path

import pytest

from esl_connector.settings.config import ConfigError, settings_from_dict

ROOT = Path(__file__).resolve().parents[1]

CLUSTER = """
[[freeswitch]]
node = "pbx1"
host = "10.0.0.11"
password = "first-secret"

[[freeswitch]]
node = "pbx2"
host = "10.0.0.12"
port = 8022
password = "second-secret"
audit_interval = 60.0

[click2call]
default_node = "pbx2"
"""


def problems_of(data: dict, env=None) -> str:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(data, env=env or {})
    return "\n".join(info.value.problems)


def test_a_single_freeswitch_table_is_one_node_named_default():
    settings = settings_from_dict({"freeswitch": {"host": "10.0.0.5", "password": "x"}}, env={})
    assert [(n.node, n.host, n.port) for n in settings.nodes] == [("default", "10.0.0.5", 8021)]
    assert settings.freeswitch is settings.nodes[0]
    named = settings_from_dict({"freeswitch": {"node": "pbx-hcm"}}, env={})
    assert [n.node for n in named.nodes] == ["pbx-hcm"]


def test_a_list_of_freeswitch_tables_is_one_node_each_with_its_own_settings(tmp_path):
    import tomllib
    settings = settings_from_dict(tomllib.loads(CLUSTER), env={})
    assert [(n.node, n.host, n.port, n.password) for n in settings.nodes] == [
        ("pbx1", "10.0.0.11", 8021, "first-secret"), ("pbx2", "10.0.0.12", 8022, "second-secret")]
    assert settings.nodes[1].audit_interval == 60.0 and settings.nodes[0].audit_interval == 300.0
    assert settings.freeswitch.node == "pbx1" and settings.click2call.default_node == "pbx2"


def test_passwords_come_from_the_nodes_own_variable_then_the_shared_one_then_the_file():
    data = {"freeswitch": [{"node": "pbx1", "password": "file1"}, {"node": "pbx-2.b", "host": "h2"},
                           {"node": "pbx3", "host": "h3", "password": "file3"}]}
    env = {"ESL_CONNECTOR_FREESWITCH_PBX_2_B_PASSWORD": "own", "ESL_CONNECTOR_FREESWITCH_PASSWORD": "shared"}
    assert [n.password for n in settings_from_dict(data, env=env).nodes] == ["shared", "own", "shared"]
    assert [n.password for n in settings_from_dict(data, env={}).nodes] == ["file1", "ClueCon", "file3"]


def test_node_names_must_be_given_valid_and_unique_and_endpoints_distinct():
    problems = problems_of({"freeswitch": [
        {"node": "pbx1", "host": "a"}, {"host": "b"}, {"node": "PBX1", "host": "c"},
        {"node": "bad name!", "host": "d"}, {"node": "pbx5", "host": "a"}]})
    assert "freeswitch[1].node: missing" in problems
    assert "freeswitch[2].node: 'PBX1' is already the name of freeswitch[0]" in problems
    assert "freeswitch[3].node: 'bad name!' is not a node name" in problems
    assert "freeswitch[4]: a:8021 is already freeswitch[0]'s Event Socket" in problems
    clash = problems_of({"freeswitch": [{"node": "pbx-1", "host": "a"}, {"node": "pbx_1", "host": "b"}]})
    assert "freeswitch[1].node: 'pbx_1' has the same password variable (ESL_CONNECTOR_FREESWITCH_PBX_1_PASSWORD)" \
        in clash


def test_each_nodes_keys_are_checked_with_its_path():
    problems = problems_of({"freeswitch": [
        {"node": "a", "port": 0, "event_format": "xml"}, {"node": "b", "host": "b", "password": "",
                                                           "heartbeat_timeout": 0, "colour": "red"}]})
    for expected in ("freeswitch[0].port: 0 is not a TCP port", "freeswitch[0].event_format",
                     "freeswitch[1].password: empty (set it, or ESL_CONNECTOR_FREESWITCH_B_PASSWORD",
                     "freeswitch[1].heartbeat_timeout: must be > 0", "freeswitch[1].colour: unknown key"):
        assert expected in problems
    assert "freeswitch: an empty list" in problems_of({"freeswitch": []})


def test_the_default_node_of_click_to_call_must_be_a_configured_node():
    problems = problems_of({"freeswitch": [{"node": "a", "host": "a"}, {"node": "b", "host": "b"}],
                            "click2call": {"default_node": "c"}})
    assert "click2call.default_node: 'c' is not a configured node (a, b)" in problems


def test_check_config_names_every_node_and_every_problem(tmp_path):
    good, bad = tmp_path / "cluster.toml", tmp_path / "bad.toml"
    good.write_text(CLUSTER)
    bad.write_text('[[freeswitch]]\nnode = "a"\n[[freeswitch]]\nnode = "a"\nport = 70000\n')
    cli = [sys.executable, "-m", "esl_connector.cli", "check-config", "-c"]
    ok = subprocess.run([*cli, str(good)], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert "pbx1 10.0.0.11:8021, pbx2 10.0.0.12:8022" in ok.stdout
    refused = subprocess.run([*cli, str(bad)], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert refused.returncode == 1
    assert "freeswitch[1].node: 'a' is already the name of freeswitch[0]" in refused.stderr
    assert "freeswitch[1].port: 70000 is not a TCP port" in refused.stderr


def test_forget_node_is_refused_for_a_configured_node_and_cleans_a_removed_one(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'[[freeswitch]]\nnode = "pbx1"\n[storage]\nurl = "sqlite:///{tmp_path}/c.db"\n')
    cli = [sys.executable, "-m", "esl_connector.cli", "forget-node", "-c", str(config)]
    refused = subprocess.run([*cli, "pbx1"], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert refused.returncode == 2 and "node 'pbx1' is in" in refused.stderr
    done = subprocess.run([*cli, "pbx-old"], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "node pbx-old: 0 extensions forgotten, 0 calls in progress closed" in done.stdout


def test_the_demo_runs_a_cluster_of_simulated_nodes(tmp_path):
    from storage import open_database, queries
    db_path = tmp_path / "demo.db"
    out = subprocess.run([sys.executable, "-m", "esl_connector.cli", "demo", "--nodes", "2", "--no-tui",
                          "--duration", "6", "--speed", "20", "--calls-per-second", "3",
                          "--database", str(db_path)], capture_output=True, text=True, cwd=ROOT, timeout=90)
    assert out.returncode == 0, out.stderr
    assert "2 FreeSWITCH simulators (nodes pbx1..pbx2) on 127.0.0.1:" in out.stdout.splitlines()[0]
    db = open_database(f"sqlite:///{db_path}")
    try:
        nodes = {call.node for call in queries.list_calls(db, limit=500)}
        registered = {(e.node, e.extension) for e in queries.list_extensions(db) if e.state != "offline"}
    finally:
        db.close()
    assert nodes == {"pbx1", "pbx2"}, out.stdout
    assert {("pbx1", "101"), ("pbx2", "101")} <= registered
