"""Reload of a running connector (SIGHUP, ``POST /api/v1/admin/reload``):
customers and delivery settings change without dropping the Event Socket
connection or any delivery; a bad file is refused and changes nothing.

Real processes, sockets and files: ``esl-connector run`` as a subprocess, the
simulator and CRM receivers in the test process over real TCP and HTTP, a real
SQLite file."""

import json
import re
import signal
import socket
import subprocess
import sys

import pytest
import requests

from esl_connector.crm_receiver import CrmReceiver
from esl_connector.simulator import Simulator

from esl_fake_server import wait_until
from restart_harness import EXTENSIONS, ChannelReads, ConnectorProcess, answered_call

API_TOKEN = "reload-test-api-token-0123"
LISTENING = re.compile(r"HTTP API listening on (https?://[0-9.]+:[0-9]+)")


def config_text(database_url: str, sim_port: int, crm_url: str, *, delivery: str = "", customers: str | None = None,
                freeswitch: str = "", http_port: int = 0) -> str:
    if customers is None:
        customers = f'[[customers]]\ncode = "acme"\ndomain_crm = "{crm_url}"\nsecret = "s3cret-acme"\n' \
                    f'extensions = "{EXTENSIONS[0]}-{EXTENSIONS[-1]}"\n'
    return f"""
[freeswitch]
port = {sim_port}
password = "ClueCon"
resync_delay = 0.0
reconnect_max_delay = 0.5
{freeswitch}

[storage]
url = "{database_url}"

[delivery]
poll_interval = 0.2
{delivery}

[http]
port = {http_port}
api_token = "{API_TOKEN}"

{customers}
"""


class Rig:
    def __init__(self, tmp_path, database, status_for=None):
        self.tmp = tmp_path
        self.sim = Simulator(speed=20.0, extensions=EXTENSIONS, heartbeat_interval=20.0).start()
        self.sim.pbx.register_all()
        self.old = CrmReceiver(status_for=status_for).start()
        self.new = CrmReceiver().start()
        self.database = database  # db_backends.TestDatabase
        self.config = tmp_path / "connector.toml"
        self.write(self.old.url)
        self.process = ConnectorProcess(self.config, tmp_path / "connector.log", ChannelReads(self.sim))

    def write(self, crm_url: str, **kwargs) -> None:
        self.config.write_text(config_text(self.database.url, self.sim.address[1], crm_url, **kwargs))

    def close(self) -> None:
        self.process.kill_if_running()
        self.sim.stop()
        self.old.stop()
        self.new.stop()

    @property
    def log(self) -> str:
        return self.process.log_path.read_text(errors="replace")

    def api(self) -> str:
        return LISTENING.findall(self.log)[-1]

    def esl_sessions(self) -> int:
        return sum(1 for line in self.sim.server.commands_received if line.lower().startswith("auth "))

    def reload_api(self, token: str | None = API_TOKEN) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(self.api() + "/api/v1/admin/reload", headers=headers, timeout=30)

    def sighup(self, count_before: int) -> None:
        self.process.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.log.count("reloading the configuration") > count_before, timeout=30,
                   what="the reload to start")

    def outbox(self) -> list[tuple]:
        return self.database.rows("SELECT event_type, status, customer, last_error FROM outbox")


@pytest.fixture
def rig(backend, tmp_path):
    """Pending rows at reloads: on SQLite and PostgreSQL."""
    made = Rig(tmp_path, backend, status_for=lambda request: 503)  # the old CRM never takes anything
    yield made
    made.close()


@pytest.fixture
def healthy_rig(sqlite_database, tmp_path):
    """The file's checks and the reload's reports: the database does not matter."""
    made = Rig(tmp_path, sqlite_database)
    yield made
    made.close()


def test_sighup_sends_pending_and_new_webhooks_to_the_new_url_on_the_same_esl_connection(rig):
    rig.process.start()
    call = answered_call(rig.sim)
    wait_until(lambda: rig.old.of_type("incoming_call"), timeout=30, what="a first attempt at the old CRM")
    pending_id = rig.old.of_type("incoming_call")[0].headers["X-Event-Id"]

    rig.write(rig.new.url)
    rig.sighup(0)
    wait_until(lambda: "configuration reloaded" in rig.log, timeout=30, what="the reload")
    call.kill()

    wait_until(lambda: sorted(rig.outbox()) == [("call_answered", "delivered", "acme", ""),
                                                ("incoming_call", "delivered", "acme", "")],
               timeout=30, what="both rows delivered")
    assert [r.event_type for r in rig.new.requests] == ["incoming_call", "call_answered"]
    assert rig.new.of_type("incoming_call")[0].headers["X-Event-Id"] == pending_id
    assert rig.esl_sessions() == 1, "the Event Socket connection was dropped"
    assert rig.process.proc.poll() is None
    assert "customers added none, removed none, changed acme" in rig.log


def test_a_bad_file_is_refused_and_the_old_settings_keep_delivering(healthy_rig):
    rig = healthy_rig
    rig.process.start()
    rig.config.write_text(rig.config.read_text() + "\n[delivery\nworkers = 3\n")  # TOML syntax
    rig.sighup(0)
    wait_until(lambda: "refused (" in rig.log, timeout=30, what="the refusal in the log")
    assert "not valid TOML" in rig.log

    rig.write(rig.new.url, delivery="workers = 0\nretry_forever = true\n",
              customers='[[customers]]\ncode = "acme"\ndomain_crm = "http://admin:Url-Passw0rd-77@127.0.0.1:9"\n'
                        f'secret = "s3cret-acme"\nextensions = "{EXTENSIONS[0]}-{EXTENSIONS[-1]}"\n')
    answer = rig.reload_api()
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "invalid_configuration" and body["applied"] is False
    problems = "\n".join(body["problems"])
    assert "delivery.workers: must be between 1 and 1000" in problems
    assert "delivery.retry_forever: unknown key" in problems
    assert "customers[0].domain_crm" in problems and "credentials in the URL" in problems
    assert "Url-Passw0rd-77" not in problems and "Url-Passw0rd-77" not in rig.log
    assert "delivery.workers: must be between 1 and 1000" in rig.log
    metrics = requests.get(rig.api() + "/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=5).text
    assert 'esl_connector_config_reloads_total{result="refused"} 2.0' in metrics

    call = answered_call(rig.sim)
    call.kill()
    wait_until(lambda: rig.old.of_type("call_answered"), timeout=30, what="the call log at the old CRM")
    assert not rig.new.requests
    assert rig.esl_sessions() == 1


def test_the_reload_api_needs_the_token_and_reports_what_needs_a_restart(healthy_rig):
    rig = healthy_rig
    rig.process.start()
    assert rig.reload_api(token=None).status_code == 401
    assert rig.reload_api(token="not-the-token-at-all").status_code == 401

    rig.write(rig.new.url, delivery="workers = 5\nread_timeout = 3.0\n", freeswitch="heartbeat_timeout = 25.0")
    answer = rig.reload_api()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["applied"] is True and body["customers_changed"] == ["acme"]
    assert body["changed"] == ["delivery.workers", "delivery.read_timeout"]
    assert body["needs_restart"] == ["freeswitch.heartbeat_timeout"]
    assert "take effect only after a restart: freeswitch.heartbeat_timeout" in rig.log
    metrics = requests.get(rig.api() + "/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=5).text
    assert 'esl_connector_config_reloads_total{result="applied"} 1.0' in metrics
    assert "esl_connector_config_needs_restart 1.0" in metrics
    def health():
        return requests.get(rig.api() + "/api/v1/health", headers={"Authorization": f"Bearer {API_TOKEN}"},
                            timeout=5).json()
    # the engine (in its delivery process) took the new pool size; its status follows at once
    wait_until(lambda: json.dumps(health()).count('"workers": 5') == 1, timeout=30, what="5 workers")
    health = health()
    assert health["config"]["file"] == str(rig.config)
    assert health["config"]["last_reload"]["applied"] is True
    assert health["config"]["last_reload"]["needs_restart"] == ["freeswitch.heartbeat_timeout"]

    answered_call(rig.sim).kill()
    wait_until(lambda: rig.new.of_type("call_answered"), timeout=30, what="the call log at the new CRM")
    assert not rig.old.requests
    assert rig.esl_sessions() == 1


def test_rows_of_a_removed_customer_stay_retrying_and_go_out_when_it_returns(rig):
    rig.process.start()
    call = answered_call(rig.sim)
    wait_until(lambda: rig.old.of_type("incoming_call"), timeout=30, what="a first attempt at the old CRM")

    rig.write(rig.new.url, customers="")
    rig.sighup(0)
    wait_until(lambda: "configuration reloaded" in rig.log, timeout=30, what="the reload")
    call.kill()
    wait_until(lambda: {t for t, *_ in rig.outbox()} >= {"incoming_call", "call_answered"}, timeout=30,
               what="the call log in the outbox")
    wait_until(lambda: any("no longer in the configuration" in (e or "") for *_, e in rig.outbox()),
               timeout=30, what="the kept row's reason")
    rows = rig.outbox()
    assert {status for _t, status, _c, _e in rows} <= {"pending", "retrying"}, rows
    assert all(customer in ("acme", "") for _t, _s, customer, _e in rows)

    rig.write(rig.new.url)
    rig.sighup(1)
    wait_until(lambda: {status for _t, status, _c, _e in rig.outbox()} == {"delivered"}, timeout=60,
               what="the kept rows delivered")
    assert rig.new.of_type("incoming_call") and rig.new.of_type("call_answered")
    assert rig.esl_sessions() == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_reload_command_asks_the_running_connector_and_prints_what_changed(healthy_rig):
    rig, port = healthy_rig, free_port()
    rig.write(rig.old.url, http_port=port)
    rig.process.start()

    def reload_command():
        return subprocess.run([sys.executable, "-m", "esl_connector.cli", "reload", "-c", str(rig.config)],
                              capture_output=True, text=True, timeout=60)
    rig.write(rig.new.url, http_port=port, delivery="per_endpoint_concurrency = 2\n")
    done = reload_command()
    assert done.returncode == 0, done.stderr
    assert "customers changed: acme" in done.stdout
    assert "settings changed:  delivery.per_endpoint_concurrency" in done.stdout
    assert "need a restart:    -" in done.stdout

    rig.write(rig.new.url, http_port=port, delivery="per_endpoint_concurrency = 0\n")
    refused = reload_command()  # checked before the connector is asked: it keeps its settings
    assert refused.returncode == 2
    assert "delivery.per_endpoint_concurrency: must be between 1 and 1000" in refused.stderr
    assert "reloading the configuration" not in rig.log.split("configuration reloaded", 1)[1]
    assert rig.esl_sessions() == 1


def test_a_changed_added_or_removed_freeswitch_node_needs_a_restart():
    from esl_connector.reload import restart_keys
    from esl_connector.settings.config import settings_from_dict

    def nodes(*tables):
        return settings_from_dict({"freeswitch": [dict(t, password="x") for t in tables]}, "test")

    old = nodes({"node": "pbx1", "port": 8021}, {"node": "pbx2", "host": "10.0.0.2"})
    new = nodes({"node": "pbx1", "port": 8022}, {"node": "pbx3", "host": "10.0.0.3"})
    assert restart_keys(old, new) == ["freeswitch[pbx2]", "freeswitch[pbx3]", "freeswitch[pbx1].port"]
    single = settings_from_dict({"freeswitch": {"password": "x", "port": 8021}}, "test")
    moved = settings_from_dict({"freeswitch": {"password": "x", "port": 8022}}, "test")
    assert restart_keys(single, moved) == ["freeswitch.port"] and restart_keys(single, single) == []


def test_the_delivery_process_model_needs_a_restart_the_rest_of_delivery_does_not():
    from esl_connector.reload import restart_keys
    from esl_connector.settings.config import settings_from_dict

    def delivery(**keys):
        return settings_from_dict({"freeswitch": {"password": "x"}, "delivery": keys}, "test")

    old = delivery(process="separate", processes=1, workers=32)
    assert restart_keys(old, delivery(process="separate", processes=2, workers=8)) == ["delivery.processes"]
    assert restart_keys(old, delivery(process="inline", instance="a")) == ["delivery.process", "delivery.instance"]
