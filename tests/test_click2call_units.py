"""The pure parts of click-to-call: phone normalisation, the allow-lists, the
originate builder's own guard, the TOML tables, the token buckets."""

from types import SimpleNamespace

import pytest

from esl_connector.api.click2call import Click2CallSettings, secret_matches
from esl_connector.api.click2call_originate import OriginateRequest, originate_command
from esl_connector.api.click2call_validation import (
    InvalidParameter,
    check_userfield,
    extra_params,
    normalise_phone,
)
from esl_connector.api.rate_limit import KeyedLimiter
from esl_connector.settings.config import ConfigError
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import PhoneRules, Route

VN = PhoneRules(prefixes=(("84", "0"), ("+84", "0")), min_digits=9, max_digits=11)


@pytest.mark.parametrize("raw,expected", [
    ("0904824242", "0904824242"),
    ("+84 904 824 242", "0904824242"),
    ("84-904-824-242", "0904824242"),
    ("(090) 482.4242", "0904824242"),
    ("+1 415 555 0100", "+14155550100"),      # no rule for +1: kept in international form
    (" 0904824242 ", "0904824242"),
])
def test_phone_numbers_are_normalised(raw, expected):
    assert normalise_phone(raw, VN) == expected


@pytest.mark.parametrize("raw", ["", "   ", "09048x4242", "+", "0904+824242", "12345678", "0" * 12,
                                 "0904824242" + " " * 60, "٠٩٠٤٨٢٤٢٤٢"])
def test_phone_numbers_are_validated_strictly(raw):
    with pytest.raises(InvalidParameter):
        normalise_phone(raw, VN)


def test_userfield_allow_list():
    assert check_userfield("  ORDER-123  ", 128) == "ORDER-123"
    assert check_userfield("Mã đơn 42", 128) == "Mã đơn 42"
    assert check_userfield("Mã đơn 42".encode().decode(), 128)  # NFC
    assert check_userfield("Ma\u0303 \u0111o\u031b\u0301n", 128)  # NFD: combining marks are letters' parts
    for bad in ("a,b", "a}b", "a'b", "a$b", "a:_:b", "a\nb", "a  b", "x" * 129):
        with pytest.raises(InvalidParameter):
            check_userfield(bad, 128)


def test_extra_parameters_are_limited_by_name_count_and_size():
    assert extra_params([("lead[id]", "7"), ("src", "crm")], 20, 10) == {"lead[id]": "7", "src": "crm"}
    for items in ([("a b", "1")], [("x", "y" * 11)], [("x", "a\x1bb")], [(f"k{i}", "v") for i in range(21)]):
        with pytest.raises(InvalidParameter):
            extra_params(items, 20, 10)


GATEWAY = Route(gateway="pstn", caller_id_number="0281234567")


def test_the_builder_refuses_values_that_bypassed_validation():
    ok = OriginateRequest("c0ffee00-0000-4000-8000-000000000001", "101", "pbx.local", "0904824242",
                          "ORD", 20, GATEWAY)
    assert originate_command(ok) == (
        "originate {origination_uuid=c0ffee00-0000-4000-8000-000000000001,cti_click2call=true,crm_userfield=ORD,"
        "origination_caller_id_number=0904824242,origination_caller_id_name=0904824242,"
        "originate_timeout=20}user/101@pbx.local "
        "&bridge({origination_caller_id_number=0281234567}sofia/gateway/pstn/0904824242)")
    for field, value in (("userfield", "a,b"), ("phone", "0904 1"), ("extension", "101 x"),
                         ("domain", "a}b"), ("callid", "x}user/9")):
        request = OriginateRequest(**{**{f: getattr(ok, f) for f in ok.__slots__}, field: value})
        with pytest.raises(ValueError):
            originate_command(request)


def customer(**click2call):
    return {"code": "acme", "domain_crm": "crm.acme.vn", "secret": "s", "extensions": "101-109",
            "click2call": click2call}


def test_click2call_table_defaults_and_env_secret():
    (acme,) = parse_customers([customer()], env={"ESL_CONNECTOR_CUSTOMER_ACME_CLICK2CALL_SECRET": "from-env"})
    c2c = acme.click2call
    assert c2c.route == Route(context="default", dialplan="XML") and c2c.originate_timeout == 30
    assert c2c.reject_when_busy and c2c.reject_when_offline and c2c.enabled
    assert acme.click2call_secret == "from-env" and "from-env" in acme.secrets()
    (plain,) = parse_customers([customer()], env={})
    assert plain.click2call_secret == "s"  # the customer's secret when none is set for click2call


def test_click2call_table_problems_are_reported_with_their_key_path():
    with pytest.raises(ConfigError) as info:
        parse_customers([customer(gateway="pstn gw", context="x", originate_timeout=1, caller_id_name="a'b",
                                  phone_prefixes={"+84": "zero"}, phone_strip="0", domain="a b",
                                  phone_min_digits=16, reject_when_busy="yes", colour="red")], env={})
    problems = "\n".join(info.value.problems)
    for expected in ("click2call.gateway: 'pstn gw' is not a gateway name",
                     "click2call.gateway: give gateway, or context",
                     "click2call.caller_id_number: required with gateway",
                     "click2call.originate_timeout: expected a whole number from 5 to 600",
                     "click2call.caller_id_name: \"a'b\" is not a caller ID name",
                     "click2call.phone_prefixes.+84: prefixes are digits",
                     "click2call.phone_strip: expected a string of separator characters",
                     "click2call.domain: 'a b' is not a domain name",
                     "click2call.phone_min_digits: is greater than phone_max_digits",
                     "click2call.reject_when_busy: expected true or false",
                     "click2call.colour: unknown key"):
        assert expected in problems, expected


def test_token_buckets():
    now = [0.0]
    limiter = KeyedLimiter(rate=0.5, burst=2, max_keys=2, clock=lambda: now[0])
    assert limiter.take("a") == 0.0 and limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(2.0) and limiter.available("a") == pytest.approx(2.0)
    now[0] = 1.0
    assert limiter.take("a") == pytest.approx(1.0)
    now[0] = 2.0
    assert limiter.take("a") == 0.0
    limiter.take("b"), limiter.take("c")
    assert len(limiter) == 2  # the least recently used key was forgotten


def test_secret_comparison():
    assert secret_matches("s3cret", "s3cret")
    assert not secret_matches("s3cre", "s3cret") and not secret_matches("", "") and not secret_matches("x", "")


def test_global_settings_come_from_the_settings_object_or_defaults():
    assert Click2CallSettings.from_settings(None) == Click2CallSettings()
    assert Click2CallSettings.from_settings(SimpleNamespace()) == Click2CallSettings()
    given = SimpleNamespace(click2call=SimpleNamespace(customer_rate=1.0, extension_burst=9))
    settings = Click2CallSettings.from_settings(given)
    assert settings.customer_rate == 1.0 and settings.extension_burst == 9 and settings.max_params == 20
    assert Click2CallSettings.from_settings(SimpleNamespace(click2call={"max_params": 3})).max_params == 3


def test_the_commented_example_in_the_config_file_has_valid_click2call_and_webphone_tables():
    import tomllib

    from test_customers import example_customers_block
    data = tomllib.loads(example_customers_block())
    env = {"ESL_CONNECTOR_CUSTOMER_BETA_HN_SECRET": "b", "ESL_CONNECTOR_CUSTOMER_BETA_HN_AUTH_TOKEN": "t"}
    _, beta = parse_customers(data["customers"], env=env)
    assert beta.click2call.route == Route(gateway="pstn", caller_id_number="0281234567", caller_id_name="Beta")
    assert beta.click2call.phone.prefixes == (("+84", "0"), ("84", "0"))
    assert beta.webphone.transports == {"ws", "wss"} and beta.webphone.userfield_header == "X-Userfield"
