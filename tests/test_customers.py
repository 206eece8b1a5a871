"""Customers: the TOML shape, the guide's defaults, every problem reported with
its key path, secrets from the environment, and who owns an extension."""

import base64
import re
import tomllib
from pathlib import Path

import pytest

from esl_connector.settings.config import ConfigError, parse_extension_range
from esl_connector.settings.customer_config import parse_customers
from esl_connector.settings.customers import (
    CustomerDirectory,
    ExtensionRange,
    parse_extensions,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "conf" / "esl-connector.toml"
ACME = {"code": "acme", "domain_crm": "crm.acme.vn", "secret": "s3cr3t", "extensions": "101-150,200"}


def problems_of(raw, env=None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_customers(raw, env={} if env is None else env)
    return "\n".join(info.value.problems)


def example_customers_block() -> str:
    """The commented [[customers]] examples of the shipped file, uncommented."""
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text[text.index("# Customers:"):]
    lines = [line[2:] for line in block.splitlines() if line.startswith("# ")]
    return "\n".join(line for line in lines if re.match(r"(\[|[a-z_]+ = |#)", line))


def test_the_commented_example_in_the_config_file_is_valid():
    data = tomllib.loads(example_customers_block())
    env = {"ESL_CONNECTOR_CUSTOMER_BETA_HN_SECRET": "beta-secret",
           "ESL_CONNECTOR_CUSTOMER_BETA_HN_AUTH_TOKEN": "beta-token"}
    acme, beta = parse_customers(data["customers"], env=env)
    assert acme.events["call_answered"].urls == ("https://crm.acme.vn/wsapi/acme/call_answered",)
    assert beta.secret == "beta-secret" and beta.auth.token == "beta-token"
    assert beta.events["incoming_call"].urls == (
        "https://crm.beta.vn/wsapi/beta-hn/incoming_call",
        "https://crm-backup.beta.vn/wsapi/beta-hn/incoming_call",
        "http://10.0.0.20:8080/wsapi/beta-hn/incoming_call")
    assert beta.events["call_answered"].urls[0] == "https://crm.beta.vn/api/cti/beta-hn/call-log"
    assert beta.events["call_answered"].auth.type == "digest"
    assert beta.events["call_answered"].params == {"source": "pbx-hn", "kind": "cdr"}
    assert beta.events["incoming_call"].expire_after == 120.0
    assert beta.events["call_answered"].expire_after == 0.0 == acme.events["incoming_call"].expire_after


def test_only_start_events_may_expire():
    events = {"outgoing_call": {"expire_after": 300}}
    (c,) = parse_customers([{**ACME, "events": events}], env={})
    assert c.events["outgoing_call"].expire_after == 300.0
    assert problems_of([{**ACME, "events": {"call_answered": {"expire_after": 60},
                                            "incoming_call": {"expire_after": "soon"}}}]) == (
        "customers[0].events.incoming_call.expire_after: expected seconds from 0 (never) to 2592000\n"
        "customers[0].events.call_answered.expire_after: a call log never expires: only incoming_call "
        "and outgoing_call")


def test_a_minimal_customer_gets_exactly_the_guides_defaults():
    (acme,) = parse_customers([ACME], env={})
    for event, method, encoding in (("incoming_call", "GET", "query"), ("outgoing_call", "GET", "query"),
                                    ("call_answered", "POST", "json")):
        endpoint = acme.events[event]
        assert (endpoint.method, endpoint.encoding, endpoint.secret_in) == (method, encoding, "query")
        assert endpoint.urls == (f"https://crm.acme.vn/wsapi/acme/{event}",)
        assert endpoint.mode == "single" and endpoint.auth.type == "none" and endpoint.params == {}
    assert acme.signing_key is None


def test_every_problem_is_reported_with_its_key_path():
    problems = problems_of([
        {"code": "a b", "secret": 1, "extensions": "1-x", "colour": "red",
         "auth": {"type": "basic"}, "backup_mode": "both",
         "events": {"call_answered": {"method": "PATCH", "encoding": "xml", "foo": 1},
                    "incoming_call": {"encoding": "json"}, "hangup": {}}},
        {"code": "b", "domain_crm": "http://h:99999", "extensions": "300", "secret": "x",
         "events": {"outgoing_call": {"url": "https://{host}/x"}}},
        {"code": "c", "domain_crm": "ftp://crm.c.vn", "extensions": "400", "secret": "x",
         "signing_secret": "whsec_not base64!", "params": {"phone": "1", "n": 2},
         "auth": {"type": "api_key", "token": "k", "header": "X-K", "query": "k"},
         "events": {"call_answered": {"secret_in": "body", "encoding": "query", "passthrough": "yes"}}},
    ])
    for expected in (
        "customers[0].code: required", "customers[0].secret: expected a string",
        "customers[0].extensions: '1-x' is not a number", "customers[0].colour: unknown key",
        "customers[0].auth.username: required by type 'basic'",
        "customers[0].auth.password: required by type 'basic'",
        "customers[0].backup_mode: must be failover or parallel",
        "customers[0].events.call_answered.method: must be GET, POST or PUT",
        "customers[0].events.call_answered.encoding: must be query, json or form",
        "customers[0].events.call_answered.foo: unknown key",
        "customers[0].events.incoming_call.encoding: 'json' needs a body and GET has none",
        "customers[0].events.hangup: unknown key",
        "customers[0].domain_crm: required unless every event has its own url",
        "customers[1].domain_crm: Port out of range",
        "customers[1].events.outgoing_call.url: unknown placeholder {host}",
        "customers[2].domain_crm: the scheme must be http:// or https://",
        "customers[2].signing_secret: whsec_ must be followed by base64",
        "customers[2].params.phone: a contract field", "customers[2].params.n: expected a string",
        "customers[2].auth.query: give header or query, not both",
        "customers[2].events.call_answered.secret_in: \"body\" needs encoding \"json\" or \"form\"",
        "customers[2].events.call_answered.passthrough: expected true or false",
    ):
        assert expected in problems, expected
    assert problems.count("customers[1].domain_crm") == 1  # no echo of the bad URL per event


def test_urls_must_be_http_without_credentials_and_backups_need_a_placeholder():
    problems = problems_of([
        {**ACME, "domain_crm": "https://user:pw@crm.acme.vn"},
        {**ACME, "code": "b", "extensions": "300", "backup_domains": ["crm2.b.vn"],
         "events": {"call_answered": {"url": "https://hooks.b.vn/cdr"}}},
        {**ACME, "code": "c", "extensions": "400", "events": {"incoming_call": {"url": "https://c.vn/{event"}}},
    ])
    assert "customers[0].domain_crm: credentials in the URL: use [customers.auth]" in problems
    assert "customers[1].events.call_answered.url: has no {base} or {domain_crm}" in problems
    assert "customers[2].events.incoming_call.url: bad URL template" in problems


def test_secret_is_required_unless_no_event_sends_it():
    assert "customers[0].secret: empty (set it, or ESL_CONNECTOR_CUSTOMER_ACME_SECRET" in problems_of(
        [{**ACME, "secret": ""}])
    none = {e: {"secret_in": "none"} for e in ("incoming_call", "outgoing_call", "call_answered")}
    (acme,) = parse_customers([{**ACME, "secret": "", "events": none}], env={})
    assert acme.secret == ""


def test_duplicate_codes_and_shared_extensions_or_domains_are_rejected():
    by_domain = {k: v for k, v in ACME.items() if k != "extensions"}
    problems = problems_of([
        ACME,
        {**ACME, "extensions": "150-160"},                      # same code, overlapping range
        {**ACME, "code": "ACME", "extensions": "900"},          # same environment variables
        {**by_domain, "code": "d1", "domains": ["a.pbx"]},
        {**by_domain, "code": "d2", "domains": ["A.pbx", "b.pbx"]},
    ])
    assert "customers[1].code: 'acme' is also the code of customers[0]" in problems
    assert "customers[1].extensions: 150-160 overlaps customers[0].extensions 101-150" in problems
    assert "customers[2].code: 'ACME' and customers[0]'s 'acme' share the environment variables" in problems
    assert "customers[4].domains: a.pbx also belongs to customers[3]" in problems


def test_the_same_extension_may_belong_to_customers_of_different_domains():
    customers = parse_customers([
        {**ACME, "extensions": "101-199", "domains": ["acme.pbx"]},
        {**ACME, "code": "beta", "extensions": "101-199", "domains": ["beta.pbx"]},
        {**ACME, "code": "wide", "extensions": "0100-0199"},   # 4-digit strings: no overlap with 101
    ], env={})
    assert len(customers) == 3


def test_ownership_extension_lists_win_over_domains():
    by_domain = {k: v for k, v in ACME.items() if k != "extensions"}
    acme, scoped, whole = parse_customers([
        ACME,
        {**ACME, "code": "scoped", "extensions": "300-310", "domains": ["beta.pbx"]},
        {**by_domain, "code": "whole", "domains": ["beta.pbx", "Gamma.PBX"]},
    ], env={})
    directory = CustomerDirectory([acme, scoped, whole])
    assert directory.owner("101", "anything") is acme
    assert directory.owner("101", "beta.pbx") is acme          # explicit list beats the domain
    assert directory.owner("305", "BETA.pbx") is scoped
    assert directory.owner("305", "other.pbx") is None         # scoped to its domains
    assert directory.owner("777", "beta.pbx") is whole
    assert directory.owner("777", "gamma.pbx") is whole
    assert directory.owner("777", "") is None
    assert directory.owner("0101", "") is None and directory.owner("151", "x") is None
    assert directory.get("scoped") is scoped and len(directory) == 3


@pytest.mark.parametrize("spec", ["101-150,200", "0101-0102", "1-20", "9-11", "007", "5"])
def test_compact_ranges_match_exactly_what_parse_extension_range_expands(spec):
    expanded = set(parse_extension_range(spec))
    ranges = parse_extensions(spec)
    candidates = {str(n).zfill(w) for n in range(260) for w in range(1, 6)} | {"", "1a", "١٠١", "+101"}
    assert {c for c in candidates if any(c in r for r in ranges)} == expanded & candidates


def test_extension_ranges_are_compact_and_accept_lists():
    assert parse_extensions("1000-99999") == (ExtensionRange(1000, 99999, 4),)
    assert parse_extensions(["101-150", 200]) == (ExtensionRange(101, 150, 3), ExtensionRange(200, 200, 3))
    assert str(ExtensionRange(7, 7, 3)) == "007"
    assert not ExtensionRange(100, 120, 3).overlaps(ExtensionRange(100, 200, 4))
    assert ExtensionRange(1, 20, 1).overlaps(ExtensionRange(10, 10, 2))
    for bad in ("", "abc", "150-101", "1--2"):
        with pytest.raises(ValueError):
            parse_extensions(bad)


def test_secrets_from_the_environment_win_over_the_file():
    env = {"ESL_CONNECTOR_CUSTOMER_ACME_HN_SECRET": "env-secret",
           "ESL_CONNECTOR_CUSTOMER_ACME_HN_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
           "ESL_CONNECTOR_CUSTOMER_ACME_HN_AUTH_PASSWORD": "env-password",
           "ESL_CONNECTOR_CUSTOMER_OTHER_AUTH_TOKEN": "not-ours"}
    (c,) = parse_customers([{**ACME, "code": "acme-hn", "secret": "file",
                             "auth": {"type": "digest", "username": "pbx"}}], env=env)
    assert (c.secret, c.auth.password) == ("env-secret", "env-password")
    assert c.signing_key == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert c.events["call_answered"].auth.password == "env-password"   # events inherit the auth
    assert "ESL_CONNECTOR_CUSTOMER_ACME_HN_AUTH_TOKEN" in problems_of(
        [{**ACME, "code": "acme-hn", "auth": {"type": "bearer"}}])


def test_an_event_auth_replaces_the_customers_and_unused_fields_are_reported():
    (c,) = parse_customers([{**ACME, "auth": {"type": "bearer", "token": "t0ken"},
                             "events": {"call_answered": {"auth": {"type": "api_key", "token": "k3y"}}}}], env={})
    assert c.events["incoming_call"].auth.token == "t0ken"
    assert (c.events["call_answered"].auth.type, c.events["call_answered"].auth.header) == ("api_key", "X-API-Key")
    assert set(c.secrets()) == {"s3cr3t", "t0ken", "k3y"}
    assert "customers[0].auth.username: not used by type 'bearer'" in problems_of(
        [{**ACME, "auth": {"type": "bearer", "token": "t", "username": "u"}}])
    assert "customers[0].auth.query: 'phone' is a contract field of incoming_call" in problems_of(
        [{**ACME, "auth": {"type": "api_key", "token": "t", "query": "phone"}}])


def test_backups_and_modes():
    (c,) = parse_customers([{**ACME, "domain_crm": "http://127.0.0.1:8080/crm/", "backup_mode": "parallel",
                             "backup_domains": ["10.0.0.2"],
                             "events": {"call_answered": {"backup_urls": ["https://b.vn/{customer}/{event}"],
                                                          "backup_mode": "failover"}}}], env={})
    assert c.base == "http://127.0.0.1:8080/crm" and c.domain_crm == "127.0.0.1:8080"
    assert c.events["incoming_call"].urls == ("http://127.0.0.1:8080/crm/wsapi/acme/incoming_call",
                                              "https://10.0.0.2/wsapi/acme/incoming_call")
    assert c.events["incoming_call"].mode == "parallel"
    assert c.events["call_answered"].urls[1:] == ("https://b.vn/acme/call_answered",)
    assert c.events["call_answered"].mode == "failover"


def test_repr_of_a_customer_shows_no_secret():
    (c,) = parse_customers([{**ACME, "signing_secret": "sign-me-please",
                             "auth": {"type": "basic", "username": "u", "password": "pa55word"}}], env={})
    text = repr(c)
    assert "s3cr3t" not in text and "sign-me-please" not in text and "pa55word" not in text


def test_a_customer_code_fits_the_outbox_column():
    """PostgreSQL refuses a longer value: the delivery's outcome could not be written."""
    customer = {"domain_crm": "https://crm.x.vn", "secret": "x", "extensions": "500"}
    assert parse_customers([{**customer, "code": "a" * 64}], env={})[0].code == "a" * 64
    assert "customers[0].code: required: up to 64 letters" in problems_of([{**customer, "code": "a" * 65}])
