"""Nothing a CRM sends can change the dial string, set a channel variable or run
an application: every payload below is either refused (400, and FreeSWITCH
receives no originate at all) or reaches the simulator in exactly the
command asserted here."""

import pytest
from click2call_harness import ACME_SECRET, DOMAIN, Click2CallEnv, uuid_of

from esl_connector.api.click2call import Click2CallSettings

LOOSE = Click2CallSettings(extension_burst=1000, customer_burst=1000, max_params=50)

# Each would, if copied into the originate command, do something else than
# carry a value: add a variable, end the {} block, start a second endpoint or
# originate, run an application, expand a variable or an API, or inject a
# second Event Socket command.
USERFIELD_ATTACKS = [
    "x,execute_on_answer=system rm -rf /",
    "x,origination_caller_id_number=1900",
    "x}user/999 &park()",
    "{ignore_early_media=true}",
    "[leg_timeout=1]",
    "<originate_timeout=1>",
    "x' &system('id')",
    "x'",
    'say "hi"',
    "back\\,slash",
    "x\nbgapi originate user/999 &park()",
    "x\r\n\r\nauth ClueCon",
    "a|user/999",
    "a&bridge(user/999)",
    "${system(id)}",
    "$${domain}",
    "^^:a:b",
    "a:_:user/999",
    "x) &park(",
    "a;b",
    "nul\x00byte",
    "tab\there",
    "two  spaces",
    "tick`id`",
    "line\u2028separator",
    "no\u00a0break",
]
PHONE_ATTACKS = [
    "0904824242,user/999",
    "0904824242 XML default",
    "0904824242)&park(",
    "0904824242|sofia/gateway/evil/1",
    "+84${x}",
    "0904824242\nbgapi status",
    "09048242４２",   # full-width digits are digits to Python's \\d, not to FreeSWITCH
    "++84904824242",
    "0904:_:1",
    "0904824242@evil.example",
    "{x=1}0904824242",
    "0904824242'",
]
EXTENSION_ATTACKS = ["101,user/999", "101@evil", "101 &park()", "10\n1", "１０１", "101}", "user/101", "*"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    made = Click2CallEnv(tmp_path_factory.mktemp("inject"), LOOSE)
    made.register("101", "102")
    made.directory.get("acme").click2call.reject_when_busy = False
    yield made
    made.stop()


def refused(env, **params):
    before = list(env.sim.server.commands_received)
    r = env.click2call(secret=ACME_SECRET, **params)
    assert r.status_code == 400, (params, r.text)
    assert r.json()["status"] == "error"
    assert env.sim.server.commands_received == before  # FreeSWITCH got nothing at all
    return r.json()["code"]


@pytest.mark.parametrize("payload", USERFIELD_ATTACKS)
def test_userfield_payloads_are_refused(env, payload):
    assert refused(env, extension="101", phone="0904824242", userfield=payload) == "invalid_userfield"


@pytest.mark.parametrize("payload", PHONE_ATTACKS)
def test_phone_payloads_are_refused(env, payload):
    assert refused(env, extension="101", phone=payload) == "invalid_phone"


@pytest.mark.parametrize("payload", EXTENSION_ATTACKS)
def test_extension_payloads_are_refused(env, payload):
    assert refused(env, extension=payload, phone="0904824242") == "invalid_extension"


@pytest.mark.parametrize("userfield,as_sent", [
    ("ORDER-123", "crm_userfield=ORDER-123,"),
    ("Đơn hàng 123", "crm_userfield='Đơn hàng 123',"),          # inner spaces: single-quoted
    ("a=b:c/d@e#f+g*h!i?j~k%l_m.n", "crm_userfield=a=b:c/d@e#f+g*h!i?j~k%l_m.n,"),
    ("", ""),                                                      # no userfield: no variable
])
def test_accepted_userfields_reach_freeswitch_exactly_as_asserted(env, userfield, as_sent):
    r = env.click2call(secret=ACME_SECRET, extension="102", phone="0904824242", userfield=userfield)
    assert r.status_code == 200, r.text
    callid = r.json()["callid"]
    assert env.originates()[-1] == (
        f"originate {{origination_uuid={callid},cti_click2call=true,{as_sent}origination_caller_id_number=0904824242,"
        f"origination_caller_id_name=0904824242,originate_timeout=20}}user/102@{DOMAIN} "
        "&bridge({origination_caller_id_number=0281234567,origination_caller_id_name='Acme Co'}"
        "sofia/gateway/pstn/0904824242)")
    if userfield:  # and it comes back unchanged in the call log
        assert env.wait_webhook(callid, "call_answered").json()["userfield"] == userfield


def test_environment_parameters_never_reach_freeswitch_and_are_kept_verbatim(env):
    extras = {f"p{i}": payload for i, payload in enumerate(USERFIELD_ATTACKS + PHONE_ATTACKS)
              if "\x00" not in payload and "\n" not in payload and "\r" not in payload and "\t" not in payload}
    r = env.click2call(method="POST", json={
        "secret": ACME_SECRET, "extension": "101", "phone": "0904824242", **extras})
    assert r.status_code == 200, r.text
    callid = r.json()["callid"]
    command = env.originates()[-1]
    assert uuid_of(command) == callid and command.count("{") == 2 and command.count("}") == 2
    assert command == (
        f"originate {{origination_uuid={callid},cti_click2call=true,origination_caller_id_number=0904824242,"
        f"origination_caller_id_name=0904824242,originate_timeout=20}}user/101@{DOMAIN} "
        "&bridge({origination_caller_id_number=0281234567,origination_caller_id_name='Acme Co'}"
        "sofia/gateway/pstn/0904824242)")
    assert env.call(callid).params == extras
    log = env.wait_webhook(callid, "call_answered").json()
    assert {k: log[k] for k in extras} == extras


def test_control_characters_in_environment_parameters_are_refused(env):
    assert refused(env, extension="101", phone="0904824242", note="a\r\nX-Injected: 1") == "invalid_parameter"
