"""The TUI as a person starts it, on a (pseudo-)terminal: ``esl-connector tui``
against a running connector, and ``esl-connector demo``, whose TUI stops
everything when quit."""

import re
import subprocess
import sys

import pytest
import requests

from esl_connector.cli import api_url
from esl_connector.demo import FlakyCrm, split_extensions
from esl_connector.settings.config import HttpSettings

from tui_harness import Terminal

CLI = [sys.executable, "-m", "esl_connector.cli"]


def test_tui_reads_the_connectors_address_and_token_from_its_config(tui_backend, tmp_path):
    host, port = tui_backend.api.rsplit("//", 1)[1].split(":")
    config = tmp_path / "connector.toml"
    config.write_text(f'[http]\nhost = "{host}"\nport = {port}\napi_token = "{tui_backend.token}"\n')
    terminal = Terminal([*CLI, "tui", "-c", str(config)], env={"ESL_CONNECTOR_API_TOKEN": ""})
    try:
        terminal.expect("FreeSWITCH 1.10.12")  # health answered: the token from the file was sent
        terminal.expect(tui_backend.api)
        terminal.send("q")
        assert terminal.wait() == 0
    finally:
        terminal.close()


def test_the_demo_opens_the_tui_on_a_terminal_and_quitting_it_stops_everything(tmp_path):
    terminal = Terminal([*CLI, "demo", "--speed", "20", "--calls-per-second", "1",
                         "--database", str(tmp_path / "demo.db")])
    try:
        terminal.expect("Opening the TUI")
        api = re.search(rb"Connector HTTP API on (http://127\.0\.0\.1:\d+)", terminal.output).group(1).decode()
        terminal.expect("FreeSWITCH 1.10.12")
        terminal.expect("Deliveries")
        assert requests.get(f"{api}/api/v1/health", timeout=5).json()["status"] == "ok"
        terminal.send("q")
        assert terminal.wait() == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{api}/api/v1/health", timeout=5)
        assert (tmp_path / "demo.log").exists()  # the connector's log went there, not over the TUI
    finally:
        terminal.close()


def test_tui_refuses_an_address_that_is_not_http():
    out = subprocess.run([*CLI, "tui", "--url", "pbx:8080"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "not an http(s)://HOST:PORT address: 'pbx:8080'" in out.stderr
    out = subprocess.run([*CLI, "tui", "--url", "http://pbx:80x"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "not an http(s)://HOST:PORT address" in out.stderr


def test_api_url_for_a_local_client():
    assert api_url(HttpSettings(host="127.0.0.1", port=8080)) == "http://127.0.0.1:8080"
    assert api_url(HttpSettings(host="0.0.0.0", port=8081)) == "http://127.0.0.1:8081"
    assert api_url(HttpSettings(host="::", port=8082)) == "http://[::1]:8082"
    assert api_url(HttpSettings(host="pbx.example.vn", port=8443, tls_cert="c.pem", tls_key="k.pem")) == (
        "https://pbx.example.vn:8443")


def test_the_demos_flaky_crm_fails_now_and_then():
    crm = FlakyCrm(retry_every=4, dead_every=9)
    answers = [crm(None) for _ in range(18)]
    assert answers.count(503) == 4 and answers.count(400) == 2 and answers[3] == 503 and answers[8] == 400
    assert split_extensions(["101", "102", "103", "104", "105"]) == (["101", "102", "103"], ["104", "105"])
    assert split_extensions(["101"]) == (["101"], [])
