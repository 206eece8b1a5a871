"""Guide 2.2: a CRM webphone (JsSIP over WebSocket SIP) sets its own SIP
Call-ID; that value comes back as the call log's userfield. Per customer:
which extensions and/or which transports are webphones, and a custom SIP
header as an alternative source. Driven through the simulator, whose legs
carry FreeSWITCH's real variables (``variable_sip_call_id``,
``variable_sip_via_protocol``, ``variable_sip_h_X-Userfield``)."""

import pytest
from click2call_harness import Click2CallEnv

from esl_connector.settings.click2call_config import userfield_header, webphone_policy
from esl_connector.settings.config import ConfigError
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import CustomerDirectory
from esl_connector.simulator.flows import OutboundCall

JSSIP_CALL_ID = "crm-order-7781-5s8a1b2c3d"


class WebphoneCall(OutboundCall):
    """An extension's own call placed from a phone that chose its SIP Call-ID,
    over ``transport``, optionally with extra SIP headers (as sip_h_* variables)."""

    def __init__(self, pbx, extension, number, call_id, transport, headers=None):
        super().__init__(pbx, extension, number, False, pbx.default_far_end)
        self.call_id, self.transport, self.headers = call_id, transport, headers or {}

    def ext_leg(self, dialled):
        leg = super().ext_leg(dialled)
        leg.context["sip_call_id"] = self.call_id
        leg.vars["sip_via_protocol"] = self.transport
        leg.custom_vars.update({f"sip_h_{name}": value for name, value in self.headers.items()})
        return leg


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    made = Click2CallEnv(tmp_path_factory.mktemp("webphone"))
    made.register("101", "102", "103", "201")
    yield made
    made.stop()


def call_log_of(env, extension, transport, call_id=JSSIP_CALL_ID, headers=None):
    call = env.sim.pbx._start(WebphoneCall(env.sim.pbx, extension, "0911222333", call_id, transport, headers))
    assert call.wait(10)
    callid = call.uuids["caller"]
    log = env.wait_webhook(callid, "call_answered").json()
    assert log["callid"] == callid and log["extension"] == extension and log["status"] == "ANSWERED"
    return log


def test_a_webphone_call_id_comes_back_as_the_userfield(env):
    assert call_log_of(env, "102", "wss")["userfield"] == JSSIP_CALL_ID
    assert call_log_of(env, "103", "ws", call_id="another-id")["userfield"] == "another-id"


def test_the_call_id_of_a_desk_phone_is_not_a_userfield(env):
    assert call_log_of(env, "102", "udp", call_id="5a1b2c3d-63b7-1240-788d-0e0f10111213")["userfield"] == ""


def test_a_customer_without_webphones_gets_no_userfield(env):
    assert call_log_of(env, "201", "wss")["userfield"] == ""


def test_the_custom_header_is_an_alternative_source(env):
    log = call_log_of(env, "101", "udp", headers={"X-Userfield": "TICKET-42"})
    assert log["userfield"] == "TICKET-42"
    log = call_log_of(env, "101", "wss", headers={"X-Userfield": "TICKET-43"})
    assert log["userfield"] == "TICKET-43"  # the explicit header wins over the Call-ID


def directory(webphone, code="acme", extensions="101-199"):
    return CustomerDirectory(parse_customers([{"code": code, "domain_crm": "crm.acme.vn", "secret": "s",
                                               "extensions": extensions, "webphone": webphone}], env={}))


@pytest.mark.parametrize("webphone,expected", [
    ({}, {}),
    ({"transports": ["wss", "WS"]}, {("101", "wss"): True, ("150", "ws"): True, ("101", "udp"): False}),
    ({"extensions": "150-159"}, {("155", "udp"): True, ("155", "wss"): True, ("101", "wss"): False}),
    ({"extensions": ["150-159"], "transports": ["wss"]},
     {("155", "wss"): True, ("155", "udp"): False, ("101", "wss"): False}),
])
def test_which_legs_are_webphones_is_per_customer(webphone, expected):
    policy = webphone_policy(directory(webphone))
    for (extension, transport), answer in expected.items():
        assert policy(extension, "127.0.0.1", transport) is answer, (extension, transport)
    assert policy("999", "127.0.0.1", "wss") is False  # nobody's extension


def test_webphone_settings_are_checked_and_the_header_must_be_one():
    with pytest.raises(ConfigError) as info:
        directory({"transports": ["sctp"], "userfield_header": "X Bad", "extensions": "1-x", "colour": 1})
    problems = "\n".join(info.value.problems)
    for expected in ("customers[0].webphone.transports: 'sctp' is not one of",
                     "customers[0].webphone.userfield_header: 'X Bad' is not a SIP header name",
                     "customers[0].webphone.extensions: '1-x' is not a number",
                     "customers[0].webphone.colour: unknown key"):
        assert expected in problems
    assert userfield_header(directory({"userfield_header": "X-CRM-Ref"})) == "X-CRM-Ref"
    assert userfield_header(directory({})) == "X-Userfield"
    two = CustomerDirectory(parse_customers([
        {"code": code, "domain_crm": f"{code}.vn", "secret": "s", "extensions": ext,
         "webphone": {"userfield_header": f"X-{code}"}} for code, ext in (("a", "101"), ("b", "201"))
    ], env={}))
    with pytest.raises(ConfigError):
        userfield_header(two)
