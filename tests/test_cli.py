"""The command line as an admin uses it: real processes, real files, real TCP."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from esl_connector.simulator import Simulator
from storage import open_database, queries

from esl_fake_server import wait_until

ROOT = Path(__file__).resolve().parents[1]


CLI = [sys.executable, "-m", "esl_connector.cli"]


def cli(*args, timeout=90, env=None):  # a loaded machine: a Python start alone can take seconds
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_check_config_accepts_the_example():
    out = cli("check-config", "-c", "conf/esl-connector.toml")
    assert out.returncode == 0, out.stderr
    assert "OK" in out.stdout and "127.0.0.1:8021" in out.stdout


def test_check_config_lists_every_problem_with_its_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[freeswitch]\nport = "eighty"\nevent_format = "xml"\n[storage]\nurl = "mysql://x"\n')
    out = cli("check-config", "-c", str(bad))
    assert out.returncode == 1
    for key in ("freeswitch.port", "freeswitch.event_format", "storage.url"):
        assert key in out.stderr


def test_check_config_checks_the_logging_keys(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[logging]\nlevel = "LOUD"\nformat = "xml"\nstyle = "json"\n')
    out = cli("check-config", "-c", str(bad))
    assert out.returncode == 1
    for problem in ("logging.level: 'LOUD' is not DEBUG, INFO, WARNING or ERROR",
                    "logging.format: 'xml' is not 'plain' or 'json'", "logging.style: unknown key"):
        assert problem in out.stderr


def test_run_refuses_a_bad_config_with_one_clear_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[freeswitch\n")
    out = cli("run", "-c", str(bad))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "not valid TOML" in out.stderr


def test_run_follows_freeswitch_and_stops_cleanly_on_sigterm(tmp_path):
    sim = Simulator(speed=20, extensions=["101", "102"]).start()
    try:
        sim.pbx.register_all()
        db_path = tmp_path / "run.db"
        config = tmp_path / "connector.toml"
        config.write_text(f'[freeswitch]\nport = {sim.address[1]}\nresync_delay = 0.0\n'
                          f'[storage]\nurl = "sqlite:///{db_path}"\ncommit_window = 0.05\n'
                          '[http]\nport = 0\n')  # a port of its own, read from its log: none to collide
        log = tmp_path / "run.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([*CLI, "run", "-c", str(config)], cwd=ROOT, stdout=out, stderr=out)
        try:
            wait_until(lambda: db_path.exists(), timeout=60, what="database created")
            db = open_database(f"sqlite:///{db_path}", bind=False, check=False)

            def states():
                try:
                    return {e.extension: e.state for e in queries.list_extensions(db)}
                except Exception:  # tables not migrated yet
                    return {}
            wait_until(lambda: states() == {"101": "idle", "102": "idle"}, timeout=60, what="extensions stored")
            url = wait_until(lambda: re.findall(r"HTTP API listening on (\S+)", log.read_text()), timeout=60,
                             what="the HTTP API's address in the log")[0]
            health = requests.get(f"{url}/api/v1/health", timeout=30).json()
            assert health["freeswitch"]["connected"] is True
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert "Traceback" not in log.read_text()
    finally:
        sim.stop()


def test_run_refuses_a_taken_http_port_with_one_clear_line(tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = tmp_path / "c.toml"
        config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/x.db"\n[http]\nport = {taken.getsockname()[1]}\n')
        out = cli("run", "-c", str(config))
    assert out.returncode == 3 and "http.port" in out.stderr and "Traceback" not in out.stderr


def test_simulate_serves_the_event_socket(tmp_path):
    proc = subprocess.Popen([*CLI, "simulate", "--port", "0", "--extensions", "101-103"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on 127.0.0.1:" in line and "3 extensions" in line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        import socket
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            assert sock.recv(100) == b"Content-Type: auth/request\n\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_demo_shows_the_webhooks_a_crm_receives(tmp_path):
    out = cli("demo", "--duration", "8", "--speed", "20", "--calls-per-second", "1", "--seed", "7",
              "--database", str(tmp_path / "demo.db"), timeout=100)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "CRM receiver on http://127.0.0.1:" in lines[0]
    webhooks = [line.split() for line in lines if re.match(r"\d\d:\d\d:\d\d  (GET|POST) ", line)]
    assert {fields[2].split("/")[0] for fields in webhooks} <= {"demo", "flaky"}, out.stdout
    kinds = {fields[2].split("/")[1] for fields in webhooks}
    assert {"incoming_call", "call_answered"} <= kinds, out.stdout
    assert "Traceback" not in out.stderr
