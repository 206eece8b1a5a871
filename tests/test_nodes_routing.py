"""Where things go when there are several nodes, as pure decisions: a
click-to-call's node from the stored presence, a CDR's node from what its
FreeSWITCH calls itself."""

import pytest

from esl_connector.api.click2call_nodes import place
from esl_connector.api.server import ApiError
from esl_connector.calls.cdr import CdrLeg
from esl_connector.calls.node_trackers import NodeTrackers
from esl_connector.calls.tracker import Tracker
from esl_connector.calls.tracker_settings import TrackerSettings
from esl_connector.settings.customer_config import parse_customers

ACME = parse_customers([{"code": "acme", "domain_crm": "https://crm.example.com", "secret": "s",
                         "extensions": "101-199", "domains": ["pbx.example.com"]}], env={})[0]
DOMAIN = "pbx.example.com"


def test_the_node_of_the_most_recent_registration_wins():
    rows = [(DOMAIN, "idle", "a", 1000.0), (DOMAIN, "idle", "b", 2000.0), (DOMAIN, "offline", "c", 3000.0)]
    placed = place(rows, ACME, "101", ["a", "b", "c"])
    assert (placed.domain, placed.state, placed.node) == (DOMAIN, "idle", "b")


def test_a_busy_registration_still_counts_and_unconfigured_nodes_do_not():
    rows = [(DOMAIN, "in_call", "a", 1000.0), (DOMAIN, "idle", "removed", 5000.0)]
    placed = place(rows, ACME, "101", ["a", "b"])
    assert (placed.state, placed.node) == ("in_call", "a")


def test_an_extension_registered_nowhere():
    offline = [(DOMAIN, "offline", "a", 1000.0)]
    with pytest.raises(ApiError) as refused:
        place(offline, ACME, "101", ["a", "b"])
    assert (refused.value.status, refused.value.code) == (409, "extension_unregistered")
    assert place(offline, ACME, "101", ["a", "b"], default_node="b").node == "b"
    assert place(offline, ACME, "101", ["only"]).node == "only"  # one node: as before nodes had names
    assert place([], ACME, "101", ["a"]).state == ""


def test_a_cdr_goes_to_the_node_whose_freeswitch_wrote_it():
    trackers = NodeTrackers({name: Tracker(TrackerSettings(node=name)) for name in ("pbx1", "pbx2", "sw3")})
    trackers.learn("pbx2", "fs-hcm-02", "core-2")
    leg = CdrLeg(uuid="u1", callid="u1", direction="inbound")
    assert trackers.node_for_cdr(leg) == "pbx1"  # says nothing of its writer: the first node
    leg.switchname = "FS-HCM-02"
    assert trackers.node_for_cdr(leg) == "pbx2"
    leg.switchname, leg.core_uuid = "", "core-2"
    assert trackers.node_for_cdr(leg) == "pbx2"
    leg.core_uuid, leg.switchname = "", "sw3"  # a node named like the switchname
    assert trackers.node_for_cdr(leg) == "sw3"
