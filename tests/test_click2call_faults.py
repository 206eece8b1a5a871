"""Click to call when FreeSWITCH misbehaves, with a scripted Event Socket
server over real TCP: the bgapi refused (502), not answered (504), or its job
result lost with the connection (the call row must not stay 'originating')."""

from types import SimpleNamespace

import pytest
import requests

from esl_connector.api.click2call import Click2CallSettings, routes, service
from esl_connector.api.context import ApiContext
from esl_connector.api.server import HttpApi, HttpServer
from esl_connector.esl.client import EventSocketClient
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import CustomerDirectory
from storage import migrate, open_database, queries
from storage.call_params import ORIGINATING

from esl_fake_server import FakeESLServer, wait_until

CUSTOMER = {"code": "beta", "domain_crm": "http://127.0.0.1:9", "secret": "crm", "extensions": "201-209",
            "click2call": {"secret": "pbx-secret", "gateway": "pstn", "caller_id_number": "0287654321",
                           "reject_when_offline": False}}


class Scripted:
    """A FreeSWITCH whose answer to ``bgapi originate`` is ``behaviour``."""

    def __init__(self, tmp_path, behaviour: str):
        self.behaviour = behaviour
        self.server = FakeESLServer()
        self.server.on_command = self.on_command
        self.server.start()
        self.client = EventSocketClient("127.0.0.1", self.server.port, "ClueCon", on_event=lambda e: None,
                                        command_timeout=3.0, backoff_initial=5.0, backoff_max=10.0)
        self.client.start()
        wait_until(lambda: self.client.connected, timeout=30, what="connected")
        self.db = open_database(str(tmp_path / "faults.db"))
        migrate(self.db)
        directory = CustomerDirectory(parse_customers([CUSTOMER], env={}))
        self.ctx = ApiContext(db=self.db, esl=self.client, directory=directory,
                              settings=SimpleNamespace(click2call=Click2CallSettings()))
        self.http = HttpServer(HttpApi(self.ctx, routes())).start()

    def on_command(self, conn, command: str) -> bool:
        if not command.startswith("bgapi originate"):
            return False
        job = command.split("Job-UUID: ", 1)[1]
        if self.behaviour == "refuse":
            conn.reply("-ERR originate is not available")
        elif self.behaviour == "drop":  # accepted, then the connection is lost before the job's result
            conn.reply(f"+OK Job-UUID: {job}", **{"Job-UUID": job})
            conn.close()
        elif self.behaviour == "silent":
            pass  # no reply at all: the client's command timeout
        return True

    def request(self):
        return requests.get(f"{self.http.url}/wsapi/beta/click2call.php", timeout=30,
                            params={"secret": "pbx-secret", "extension": "201", "phone": "0904824242"})

    def only_call(self):
        (call,) = queries.list_calls(self.db)
        return call

    def stop(self):
        self.http.stop()
        service(self.ctx).stop()
        self.client.stop(timeout=1)
        self.server.stop()


@pytest.fixture
def scripted(tmp_path, request):
    made = Scripted(tmp_path, request.param)
    yield made
    made.stop()


@pytest.mark.parametrize("scripted", ["refuse"], indirect=True)
def test_a_refused_bgapi_is_502_and_ends_the_call_row(scripted):
    r = scripted.request()
    assert r.status_code == 502 and r.json()["code"] == "originate_refused"
    call = scripted.only_call()
    assert (call.state, call.status) == ("ended", "FAILED")


@pytest.mark.parametrize("scripted", ["silent"], indirect=True)
def test_an_unanswered_bgapi_is_504(scripted):
    r = scripted.request()
    assert r.status_code == 504 and r.json()["code"] == "freeswitch_timeout"
    call = scripted.only_call()
    assert (call.state, call.hangup_cause) == ("ended", "CONNECTOR_LOST_TRACK")


@pytest.mark.parametrize("scripted", ["drop"], indirect=True)
def test_a_job_result_lost_with_the_connection_ends_the_call_row(scripted):
    r = scripted.request()
    assert r.status_code == 200, r.text
    callid = r.json()["callid"]
    assert scripted.only_call().params == {}
    wait_until(lambda: scripted.only_call().state != ORIGINATING, timeout=30, what="the row ended")
    call = scripted.only_call()
    assert (call.callid, call.state, call.status, call.hangup_cause) == (
        callid, "ended", "FAILED", "CONNECTOR_LOST_TRACK")

