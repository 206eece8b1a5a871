"""A running connector for click-to-call tests: the FreeSWITCH simulator, a real
Connector (ESL client, tracker, SQLite, delivery to a local CRM), and the
HTTP API with the click-to-call routes on 127.0.0.1:<port 0>."""

from __future__ import annotations

import re
from types import SimpleNamespace

import requests

from esl_connector.api.click2call import Click2CallSettings, routes, service
from esl_connector.api.context import ApiContext
from esl_connector.api.server import HttpApi, HttpServer
from esl_connector.app import Connector
from esl_connector.calls.call_tracker import TrackerSettings
from esl_connector.calls.tracker import Tracker
from esl_connector.crm_receiver import CrmReceiver
from esl_connector.delivery.webhooks import planner
from esl_connector.settings.click2call_config import phone_rules, userfield_header, webphone_policy
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import CustomerDirectory
from esl_connector.simulator import Simulator
from storage import queries

from connector_harness import connector_settings
from esl_fake_server import wait_until

SPEED = 100.0
ACME_SECRET = "pbx-s3cret-acme"
DOMAIN = "127.0.0.1"


def customers(crm_url: str) -> list[dict]:
    return [
        {"code": "acme", "domain_crm": crm_url, "secret": "crm-secret", "extensions": "101-109",
         "click2call": {"secret": ACME_SECRET, "gateway": "pstn", "caller_id_number": "0281234567",
                        "caller_id_name": "Acme Co", "originate_timeout": 20,
                        "phone_prefixes": {"+84": "0", "84": "0"}},
         "webphone": {"transports": ["ws", "wss"], "userfield_header": "X-Userfield"}},
        {"code": "beta", "domain_crm": crm_url, "secret": "beta-secret", "extensions": "201-209",
         "click2call": {"context": "from-crm", "caller_id_number": "0287654321",
                        "reject_when_offline": False, "reject_when_busy": False}},
    ]


class Click2CallEnv:
    def __init__(self, tmp_path, settings: Click2CallSettings | None = None,
                 extensions=("101", "102", "103", "104", "201", "202"), database: str | None = None):
        self.sim = Simulator(speed=SPEED, extensions=list(extensions)).start()
        self.crm = CrmReceiver().start()
        self.directory = CustomerDirectory(parse_customers(customers(self.crm.url), env={}))
        host, port = self.sim.address
        self.connector = Connector(connector_settings(database or tmp_path / "c2c.db", host, port),
                                   planner=planner(self.directory))
        self.connector.tracker = Tracker(TrackerSettings(
            webphone=webphone_policy(self.directory), userfield_header=userfield_header(self.directory),
            phone_rules=phone_rules(self.directory)))
        self.connector.start()
        # registrations made while the first resync reads `show registrations` could be undone by it
        wait_until(lambda: self.connector.client.connected and self.connector.resyncs, timeout=30,
                   what="connector connected and resynced")
        self.ctx = ApiContext(db=self.connector.db, esl=self.connector.client, directory=self.directory,
                              writer=self.connector.writer, delivery=self.connector.deliverer,
                              settings=SimpleNamespace(click2call=settings or Click2CallSettings()))
        self.http = HttpServer(HttpApi(self.ctx, routes())).start()
        self.session = requests.Session()

    @property
    def url(self) -> str:
        return self.http.url

    def stop(self) -> None:
        self.session.close()
        self.http.stop()
        service(self.ctx).stop()
        self.connector.stop()
        self.sim.stop()
        self.crm.stop()

    # -- driving --------------------------------------------------------
    def click2call(self, customer: str = "acme", method: str = "GET", path: str = "click2call.php",
                   json=None, data=None, **params) -> requests.Response:
        url = f"{self.url}/wsapi/{customer}/{path}"
        return self.session.request(method, url, params=params or None, json=json, data=data, timeout=5)

    def register(self, *extensions: str) -> None:
        for ext in extensions:
            self.sim.pbx.register(ext)
        wait_until(lambda: all(self.state(e) == "idle" for e in extensions), timeout=30,
                   what=f"{extensions} registered")

    def state(self, extension: str) -> str:
        rows = [r for r in queries.list_extensions(self.connector.db, DOMAIN) if r.extension == extension]
        return rows[0].state if rows else ""

    def originates(self) -> list[str]:
        """Every ``bgapi originate`` command the simulator received, in order."""
        return [c.split("\n")[0][len("bgapi "):] for c in self.sim.server.commands_received
                if c.startswith("bgapi originate")]

    def call(self, callid: str):
        return queries.get_call(self.connector.db, callid)

    def wait_call(self, callid: str, condition, timeout: float = 30.0, what: str = ""):
        self.connector.writer.flush(1)
        return wait_until(lambda: (c := self.call(callid)) is not None and condition(c) and c,
                          timeout=timeout, what=what or f"call {callid}")

    def webhooks(self, callid: str, event_type: str | None = None):
        return [r for r in self.crm.requests
                if (r.json() or {}).get("callid", r.query.get("callid")) == callid
                and (event_type is None or r.event_type == event_type)]

    def wait_webhook(self, callid: str, event_type: str, timeout: float = 30.0):
        return wait_until(lambda: self.webhooks(callid, event_type), timeout=timeout,
                          what=f"{event_type} of {callid}")[0]


UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def uuid_of(command: str) -> str:
    match = re.search(rf"origination_uuid=({UUID})", command)
    assert match, command
    return match.group(1)
