"""Two simulated FreeSWITCH nodes (two Event Socket servers on their own
ports, their own switchnames) and one real Connector configured with both
as [[freeswitch]] tables, a local CRM, the database of ``backend``."""

from __future__ import annotations

import requests

from esl_connector.app import Connector
from esl_connector.crm_receiver import CrmReceiver
from esl_connector.settings.config import settings_from_dict
from esl_connector.simulator import Simulator
from esl_connector.simulator.cdr import CdrPoster

from esl_fake_server import wait_until

TOKEN = "nodes-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
C2C_SECRET = "c2c-secret-for-nodes"
CDR_PASSWORD = "cdr-secret-for-nodes"
SPEED = 40.0


def node_table(name: str, sim: Simulator) -> dict:
    host, port = sim.address
    return {"node": name, "host": host, "port": port, "password": "ClueCon", "resync_delay": 0.0,
            "heartbeat_timeout": 5.0, "command_timeout": 3.0, "reconnect_max_delay": 0.5}


def start_simulator(switchname: str, extensions, port: int = 0) -> Simulator:
    return Simulator(speed=SPEED, extensions=list(extensions), port=port, hostname=switchname).start()


class TwoNodes:
    """Node ``a`` (switchname sw-a) and node ``b`` (sw-b); extension 101 exists on both."""

    def __init__(self, database_url: str, names=("a", "b"), click2call: dict | None = None, cdrs: bool = True):
        self.names = names
        self.crm = CrmReceiver().start()
        self.sims = {names[0]: start_simulator("sw-a", ["101", "102"]),
                     names[1]: start_simulator("sw-b", ["101", "201"])}
        data = {
            "freeswitch": [node_table(name, sim) for name, sim in self.sims.items()],
            "storage": {"url": database_url, "commit_window": 0.02},
            "http": {"port": 0, "api_token": TOKEN},
            "click2call": click2call or {},
            "cdr": {"http": cdrs, "password": CDR_PASSWORD, "complete_after": 0.5},
            "customers": [{"code": "acme", "domain_crm": self.crm.url, "secret": "crm-secret",
                           "extensions": "101-299",
                           "click2call": {"secret": C2C_SECRET, "reject_when_offline": False}}],
        }
        self.settings = settings_from_dict(data, env={})
        self.connector = Connector(self.settings).start()
        wait_until(lambda: self.connector.resyncs, timeout=30, what="both nodes connected and resynced")
        if cdrs:
            for sim in self.sims.values():
                sim.pbx.add_cdr_output(CdrPoster(self.url + "/api/v1/cdr", "freeswitch", CDR_PASSWORD))

    def restart(self) -> None:
        """Stop the connector cleanly and start a new one on the same database."""
        assert self.connector.stop()
        self.connector = Connector(self.settings).start()
        wait_until(lambda: self.connector.resyncs, timeout=30, what="both nodes connected and resynced")

    @property
    def url(self) -> str:
        return self.connector.http.url

    def get(self, path: str, **params) -> dict:
        answer = requests.get(self.url + path, params=params, headers=AUTH, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def extensions(self) -> dict[tuple[str, str], str]:
        """(node, extension) -> state, from the status API."""
        return {(e["node"], e["extension"]): e["state"] for e in self.get("/api/v1/extensions")["extensions"]}

    def register(self, node: str, *extensions: str) -> None:
        for ext in extensions:
            self.sims[node].pbx.register(ext)
        wait_until(lambda: all(self.extensions().get((node, e)) == "idle" for e in extensions),
                   timeout=5, what=f"{extensions} registered on {node}")

    def click2call(self, extension: str, phone: str = "0909123456") -> requests.Response:
        return requests.get(f"{self.url}/wsapi/acme/click2call.php", timeout=5,
                            params={"secret": C2C_SECRET, "extension": extension, "phone": phone})

    def originates(self, node: str) -> list[str]:
        return [c for c in self.sims[node].server.commands_received if c.startswith("bgapi originate")]

    def logs(self) -> dict[str, list[dict]]:
        """callid -> the call logs the CRM received for it."""
        found: dict[str, list[dict]] = {}
        for r in self.crm.of_type("call_answered"):
            data = r.json() if r.body else None
            fields = {**r.query, **(data if isinstance(data, dict) else {})}
            found.setdefault(fields["callid"], []).append(fields)
        return found

    def stop(self) -> None:
        self.connector.stop()
        for sim in self.sims.values():
            sim.stop()
        self.crm.stop()
