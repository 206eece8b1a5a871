"""settings.phones: the one phone normalisation (click-to-call and CRM
events alike), the placeholder, and SIP text hygiene; the
``phone_placeholder`` key and the per-customer rules the tracker gets."""

import pytest

from esl_connector.api.click2call_validation import InvalidParameter, normalise_phone
from esl_connector.settings.click2call_config import phone_rules
from esl_connector.settings.config import ConfigError
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import CustomerDirectory
from esl_connector.settings.phones import PhoneRules, crm_phone, log_value, normalise, sip_text

VN = PhoneRules(prefixes=(("84", "0"), ("+84", "0")), min_digits=9, max_digits=11, placeholder="anonymous")


@pytest.mark.parametrize("raw", ["+84904824242", "84904824242", "0904824242", "+84 90-482.4242", "(090) 482 4242"])
def test_every_form_of_a_vietnamese_number_is_the_crms_form(raw):
    assert normalise(raw, VN) == crm_phone(raw, VN)[0] == normalise_phone(raw, VN) == "0904824242"


@pytest.mark.parametrize("raw", ["anonymous", "", "  ", "0904\n824242", "0904\x00", "٠٩٠٤٨٢٤٢٤٢", "0904824242x",
                                 "++84904824242", "12", "9" * 2048, "0904\\xff"])
def test_what_is_not_a_number_becomes_the_placeholder(raw):
    value, problem = crm_phone(raw, VN)
    assert value == "anonymous" and problem
    with pytest.raises(InvalidParameter):  # and click-to-call refuses it, with the same rules
        normalise_phone(raw, VN)


def test_the_default_rules_keep_a_number_as_given_and_send_empty_for_garbage():
    assert crm_phone("+84904824242", PhoneRules()) == ("+84904824242", "")
    assert crm_phone("anonymous", PhoneRules())[0] == ""


@pytest.mark.parametrize("raw,safe", [
    ("Customer", "Customer"),
    ("Nguyễn Văn A", "Nguyễn Văn A"),
    ("0904\nvariable_crm_userfield: HACKED", "0904\\nvariable_crm_userfield: HACKED"),
    ("a\r\tb\x00c\x7fd\x85e", "a\\r\\tb\\x00c\\x7fd\\x85e"),
    ("\u202eevil\u2028x", "\\u202eevil\\u2028x"),
    ("bad\udcffbyte", "bad\\udcffbyte"),
])
def test_sip_text_shows_control_characters_instead_of_obeying_them(raw, safe):
    assert sip_text(raw) == safe and sip_text(raw).isprintable()


def test_sip_text_caps_the_length_and_log_value_says_how_long_it_was():
    assert sip_text("x" * 2048) == "x" * 125 + "..."
    assert log_value("x" * 2048, limit=10) == '"xxxxxxx..." (2048 characters)'
    assert log_value("a\nb") == '"a\\nb"'


def customer(code, extensions, **click2call):
    return {"code": code, "domain_crm": "crm.example.vn", "secret": "s", "extensions": extensions,
            "click2call": click2call}


def test_each_customer_has_its_rules_and_unknown_extensions_the_defaults():
    directory = CustomerDirectory(parse_customers([
        customer("acme", "101-109", phone_prefixes={"+84": "0", "84": "0"}, phone_placeholder="anonymous"),
        customer("beta", "201-209")], env={}))
    rules = phone_rules(directory)
    assert crm_phone("+84904824242", rules("101", "pbx")) == ("0904824242", "")
    assert crm_phone("anonymous", rules("101", "pbx"))[0] == "anonymous"
    assert crm_phone("+84904824242", rules("201", "pbx")) == ("+84904824242", "")
    assert crm_phone("anonymous", rules("201", "pbx"))[0] == ""
    assert rules("999", "pbx") == PhoneRules()


def test_a_placeholder_that_could_itself_be_hostile_is_refused():
    with pytest.raises(ConfigError) as info:
        parse_customers([customer("acme", "101", phone_placeholder="a\nb")], env={})
    assert "customers[0].click2call.phone_placeholder" in "\n".join(info.value.problems)
