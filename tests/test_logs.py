"""Log lines: plain by default, JSON lines as an option, never a secret.

The formatters are checked on records that carry secrets in every place a
line can hold one (arguments, extras, tracebacks); a real ``esl-connector run``
writes JSON lines, switches to plain ones on reload, and its log never holds a
configured secret value."""

import json
import logging
import signal

import pytest

from esl_connector.crm_receiver import CrmReceiver
from esl_connector.logs import JsonFormatter, PlainFormatter, Redactor, secret_values
from esl_connector.settings.config import settings_from_dict
from esl_connector.settings.customer_config import parse_customers
from esl_connector.simulator import Simulator

from esl_fake_server import wait_until
from restart_harness import EXTENSIONS, ChannelReads, ConnectorProcess, answered_call

ESL_PASSWORD = "Esl-Passw0rd-4711"
SECRETS = {
    "api_token": "log-test-api-token-98765",
    "customer secret": "cust-Secret-acme-1",
    "signing secret": "sign-Secret-acme-22",
    "basic password": "basic-Passw0rd-333",
    "click2call secret": "c2c-Secret-4444",
    "database password": "db-Passw0rd-55555",
}


def config_dict(crm_url: str = "http://127.0.0.1:9", storage: str = "sqlite:///tmp/x.db") -> dict:
    return {
        "freeswitch": {"password": ESL_PASSWORD},
        "storage": {"url": storage},
        "http": {"api_token": SECRETS["api_token"]},
        "customers": [{"code": "acme", "domain_crm": crm_url, "extensions": "101-130",
                       "secret": SECRETS["customer secret"], "signing_secret": SECRETS["signing secret"],
                       "auth": {"type": "basic", "username": "crm", "password": SECRETS["basic password"]},
                       "click2call": {"secret": SECRETS["click2call secret"]}}],
    }


def record(message: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    made = logging.LogRecord("esl_connector.delivery.engine", logging.WARNING, __file__, 1, message, args, exc_info)
    made.__dict__.update(extra)
    return made


@pytest.fixture
def redactor() -> Redactor:
    settings = settings_from_dict(config_dict(storage=f"postgresql://conn:{SECRETS['database password']}@db/x"),
                                  env={})
    return Redactor(secret_values(settings, parse_customers(settings.customers, {})))


def test_every_configured_secret_is_known_to_the_redactor(redactor):
    assert set(redactor.secrets) >= {ESL_PASSWORD, *SECRETS.values()}


def test_json_lines_carry_time_level_logger_message_and_extras_with_secrets_masked(redactor):
    try:
        raise RuntimeError(f"login failed with {SECRETS['basic password']}")
    except RuntimeError:
        import sys
        exc_info = sys.exc_info()
    line = JsonFormatter(redactor).format(record(
        "sent %s to %s", SECRETS["customer secret"], "https://crm:inline-Pw-9@crm.example/x?token=abc123",
        exc_info=exc_info, customer="acme", attempt=3, headers={"Authorization": f"Bearer {SECRETS['api_token']}"}))
    data = json.loads(line)
    assert "\n" not in line
    assert data["level"] == "WARNING" and data["logger"] == "esl_connector.delivery.engine"
    assert data["time"].endswith("Z") and data["time"][10] == "T"
    assert data["message"] == "sent *** to https://crm:***@crm.example/x?token=***"
    assert (data["customer"], data["attempt"]) == ("acme", 3)
    assert data["headers"] == {"Authorization": "Bearer ***"}
    assert "RuntimeError: login failed with ***" in data["exception"]
    for secret in [*SECRETS.values(), "inline-Pw-9", "abc123"]:
        assert secret not in line


def test_plain_lines_are_masked_the_same_way(redactor):
    line = PlainFormatter(redactor).format(record(
        "ESL auth %s; Authorization: Basic dXNlcjpwYXNz; url %s", ESL_PASSWORD,
        f"postgresql://conn:{SECRETS['database password']}@db:5432/esl"))
    assert line.endswith("WARNING esl_connector.delivery.engine: ESL auth ***; Authorization: Basic ***; "
                         "url postgresql://conn:***@db:5432/esl")


def test_ordinary_words_are_left_alone():
    redact = Redactor(["ab", "s3cr"])  # too short to be masked without masking words
    assert redact("freeswitch.password: empty; a tab of s3cr3ts") == "freeswitch.password: empty; a tab of ***3ts"
    assert redact("client ab connected") == "client ab connected"


def process_config(tmp_path, sim_port: int, crm_url: str, fmt: str) -> str:
    s = SECRETS
    return f"""
[freeswitch]
port = {sim_port}
password = "{ESL_PASSWORD}"
resync_delay = 0.0

[storage]
url = "sqlite:///{tmp_path / 'connector.db'}"

[http]
port = 0
api_token = "{s['api_token']}"

[logging]
level = "DEBUG"
format = "{fmt}"

[[customers]]
code = "acme"
domain_crm = "{crm_url}"
extensions = "{EXTENSIONS[0]}-{EXTENSIONS[-1]}"
secret = "{s['customer secret']}"
signing_secret = "{s['signing secret']}"
auth = {{ type = "basic", username = "crm", password = "{s['basic password']}" }}
click2call = {{ secret = "{s['click2call secret']}" }}
"""


def test_a_running_connector_writes_json_lines_then_plain_ones_after_a_reload_never_a_secret(tmp_path):
    sim = Simulator(speed=20.0, extensions=EXTENSIONS, password=ESL_PASSWORD).start()
    sim.pbx.register_all()
    crm = CrmReceiver().start()
    crm.fail_next(1)  # the first attempt fails: a retry is logged
    config = tmp_path / "connector.toml"
    config.write_text(process_config(tmp_path, sim.address[1], crm.url, "json"))
    process = ConnectorProcess(config, tmp_path / "connector.log", ChannelReads(sim))
    try:
        process.start()
        answered_call(sim).kill()
        wait_until(lambda: crm.of_type("call_answered") and len(crm.of_type("incoming_call")) >= 2, timeout=30,
                   what="a failed attempt, its retry and the call log")
        config.write_text(process_config(tmp_path, sim.address[1], "http://crm:Url-Passw0rd-66@127.0.0.1:9", "plain"))
        process.proc.send_signal(signal.SIGHUP)  # refused: credentials in a URL, quoted in the problem
        wait_until(lambda: "refused (" in process.log_path.read_text(), timeout=30, what="the refusal")
        config.write_text(process_config(tmp_path, sim.address[1], crm.url, "plain"))
        process.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "INFO    esl_connector.reload: configuration reloaded" in process.log_path.read_text(),
                   timeout=10, what="a plain line after the reload")
        assert process.stop() == 0
    finally:
        process.kill_if_running()
        sim.stop()
        crm.stop()
    text = process.log_path.read_text()
    lines = text.splitlines()
    switch = next(i for i, line in enumerate(lines) if not line.startswith("{"))
    parsed = [json.loads(line) for line in lines[:switch]]
    assert all({"time", "level", "logger", "message"} <= set(p) for p in parsed)
    assert any(p["logger"] == "esl_connector.app" and p["message"].startswith("connector started") for p in parsed)
    assert any(p["level"] == "DEBUG" for p in parsed)
    assert parsed[-1]["message"].startswith("reloading the configuration")
    assert not any(line.startswith("{") for line in lines[switch:])
    refusal = next(p for p in parsed if p["level"] == "ERROR" and "refused" in p["message"])
    assert "credentials in the URL: use [customers.auth] in 'http://crm:***@127.0.0.1:9'" in refusal["message"]
    for name, secret in [("ESL password", ESL_PASSWORD), ("URL password", "Url-Passw0rd-66"), *SECRETS.items()]:
        assert secret not in text, f"the {name} is in the log"
