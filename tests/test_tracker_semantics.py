"""Call-tracker behaviour beyond the ten recordings, by FreeSWITCH's semantics:
ring groups, auto-answer, transfers, internal calls, out-of-order arrival,
hostile caller IDs, and rebuilding state after a reconnect."""

from esl_connector.calls.tracker import Tracker
from esl_connector.records import CALL_LOG, INCOMING_CALL, OUTGOING_CALL

from channel_events import agent_leg, extension_caller, gateway_leg, trunk_leg


def feed(tracker, events):
    out = []
    for event in events:
        out.extend(tracker.handle(event).crm_events)
    return out


def kinds(crm):
    return [(e.event_type, e.extension) for e in crm]


def test_ring_group_rings_every_agent_with_one_callid_and_logs_the_answerer():
    t = Tracker()
    did = trunk_leg()
    a, b, c = (agent_leg(did, ext) for ext in ("101", "102", "103"))
    crm = feed(t, [did.create(0), a.create(1), b.create(1), c.create(1), a.ring(1), b.ring(1), c.ring(2),
                   b.answer(5), a.hangup(5, "LOSE_RACE"), c.hangup(5, "LOSE_RACE"), did.answer(5),
                   b.hangup(20), did.hangup(20)])
    assert kinds(crm) == [(INCOMING_CALL, "101"), (INCOMING_CALL, "102"), (INCOMING_CALL, "103"), (CALL_LOG, "102")]
    assert {e.callid for e in crm} == {did.uuid}
    log = crm[-1].params
    assert (log["status"], log["duration"], log["billsec"], log["phone"]) == ("ANSWERED", 20, 15, "0904824242")


def test_sequential_hunt_without_answer_names_the_last_agent_rung():
    t = Tracker()
    did = trunk_leg()
    a, b = agent_leg(did, "101"), agent_leg(did, "102")
    crm = feed(t, [did.create(0), a.create(0), a.ring(0), a.hangup(10, "NO_ANSWER"),
                   b.create(10), b.ring(10), b.hangup(15, "USER_BUSY"), did.hangup(15)])
    assert kinds(crm) == [(INCOMING_CALL, "101"), (INCOMING_CALL, "102"), (CALL_LOG, "102")]
    assert crm[-1].params["status"] == "BUSY"


def test_auto_answer_phone_that_never_rings_still_gets_incoming_call():
    t = Tracker()
    did = trunk_leg()
    a = agent_leg(did, "101")
    crm = feed(t, [did.create(0), a.create(0), a.answer(0), a.hangup(4), did.hangup(4)])
    assert kinds(crm) == [(INCOMING_CALL, "101"), (CALL_LOG, "101")]


def test_blind_transfer_keeps_the_callid_and_logs_the_last_agent():
    t = Tracker()
    did = trunk_leg()
    a, b = agent_leg(did, "101"), agent_leg(did, "102")
    crm = feed(t, [did.create(0), a.create(0), a.ring(0), a.answer(2), did.answer(2),
                   b.create(10), a.hangup(10), b.ring(10), b.answer(12), b.hangup(30), did.hangup(30)])
    assert kinds(crm) == [(INCOMING_CALL, "101"), (INCOMING_CALL, "102"), (CALL_LOG, "102")]
    log = crm[-1].params
    assert log["callid"] == did.uuid and log["billsec"] == 8 + 18 and log["duration"] == 30


def test_legs_arriving_out_of_causal_order_give_the_same_result():
    t = Tracker()
    did = trunk_leg()
    a = agent_leg(did, "101")
    # The agent leg's events arrive before the DID leg's CHANNEL_CREATE.
    crm = feed(t, [a.create(0), a.ring(0), did.create(0), a.answer(3), did.answer(3),
                   did.hangup(9), a.hangup(9)])
    assert kinds(crm) == [(INCOMING_CALL, "101"), (CALL_LOG, "101")]
    assert crm[-1].params["billsec"] == 6 and crm[0].params["phone"] == "0904824242"


def test_outbound_busy_far_end():
    t = Tracker()
    ext = extension_caller("102", "0911222333")
    gw = gateway_leg(ext, "0911222333")
    crm = feed(t, [ext.create(0), gw.create(0), gw.hangup(3, "USER_BUSY"), ext.hangup(3, "USER_BUSY")])
    assert kinds(crm) == [(OUTGOING_CALL, "102"), (CALL_LOG, "102")]
    assert crm[-1].params["status"] == "BUSY" and crm[0].params["phone"] == "0911222333"


def test_outbound_uses_the_number_the_gateway_dialled_not_the_digits_typed():
    t = Tracker()
    ext = extension_caller("102", "90911222333")  # "9" prefix stripped by the dialplan
    gw = gateway_leg(ext, "0911222333")
    crm = feed(t, [ext.create(0), gw.create(1), gw.answer(3), ext.answer(3), gw.hangup(7), ext.hangup(7)])
    assert [e.params["phone"] for e in crm] == ["0911222333", "0911222333"]


def test_internal_extension_to_extension_call_produces_nothing_for_the_crm():
    t = Tracker()
    caller = extension_caller("101", "102")
    callee = agent_leg(caller, "102")
    changes = [t.handle(e) for e in (caller.create(0), callee.create(0), callee.ring(0),
                                      callee.answer(2), callee.hangup(5), caller.hangup(5))]
    assert not [e for c in changes for e in c.crm_events]
    assert changes[-1].calls[-1].direction == "internal"
    states = [r.state for c in changes for r in c.extensions if r.extension == "102"]
    assert states == ["ringing", "in_call", "offline"]


def test_hostile_caller_id_reaches_no_crm_and_forges_nothing(caplog):
    t = Tracker()
    did = trunk_leg(caller="0904\r\nEvent-Name: CHANNEL_HANGUP_COMPLETE&secret=x")
    a = agent_leg(did, "101")
    crm = feed(t, [did.create(0), a.create(0), a.ring(0)])
    assert crm[0].params["phone"] == ""  # the default placeholder
    assert t.calls.active_calls()  # nothing was hung up by the forged text
    call = t.calls.record(t.calls.active_calls()[0])
    assert call.phone == "0904\\r\\nEvent-Name: CHANNEL_HANGUP_COMPLETE&secret=x"  # kept, escaped
    assert "is not a number" in caplog.text and "Event-Name: CHANNEL_HANGUP_COMPLETE" in caplog.text


def test_events_after_a_call_ended_are_ignored():
    t = Tracker()
    did = trunk_leg()
    a = agent_leg(did, "101")
    feed(t, [did.create(0), a.create(0), a.ring(0), a.hangup(3, "NO_ANSWER"), did.hangup(3)])
    assert feed(t, [a.hangup(3, "NO_ANSWER"), did.event("CHANNEL_HANGUP_COMPLETE", 4)]) == []
    assert not t.calls.active_calls()


def test_resync_discovers_ringing_channels_and_closes_calls_lost_while_disconnected():
    t = Tracker()
    did = trunk_leg()
    a = agent_leg(did, "101")
    feed(t, [did.create(0), a.create(0), a.ring(0), a.answer(2), did.answer(2)])
    rows = [{"uuid": "new-agent", "direction": "outbound", "created_epoch": "1795641100",
             "name": "sofia/internal/103@192.0.2.10", "cid_num": "0987654321", "dest": "103",
             "presence_id": "103@pbx.local", "callstate": "RINGING", "call_uuid": "new-did"},
            {"uuid": "new-did", "direction": "inbound", "created_epoch": "1795641100",
             "name": "sofia/external/0987654321@10.0.0.1", "cid_num": "0987654321", "dest": "19001234",
             "presence_id": "", "callstate": "RINGING", "call_uuid": ""}]
    regs = [{"reg_user": "103", "realm": "pbx.local", "token": "abc", "url": "sofia/internal/sip:103@1.2.3.4",
             "expires": "1795641700", "network_ip": "1.2.3.4", "network_port": "5060"}]
    result = t.resync(regs, rows, now=1_795_641_120.0)
    assert (result.discovered_legs, result.lost_legs) == (2, 2)
    crm = result.changes.crm_events
    assert (crm[0].event_type, crm[0].extension, crm[0].callid) == (INCOMING_CALL, "103", "new-did")
    log = [e for e in crm if e.event_type == CALL_LOG]
    assert len(log) == 1 and log[0].callid == did.uuid and log[0].params["status"] == "ANSWERED"
    presence = {r.extension: r.state for r in t.extensions.records()}
    assert presence == {"101": "offline", "103": "ringing"}


def test_resync_keeps_legs_that_produced_events_since_the_reconnect():
    t = Tracker()
    did = trunk_leg()
    a = agent_leg(did, "101")
    t.begin_snapshot()
    feed(t, [did.create(0), a.create(0), a.ring(0)])
    result = t.resync([], [], now=1_795_641_005.0)
    assert result.lost_legs == 0 and t.calls.active_calls()


def test_a_registration_newer_than_the_snapshot_is_not_undone_by_it():
    from esl_connector.esl.protocol import Event
    t = Tracker()
    t.begin_snapshot()  # show registrations is asked now, and answers without 105
    t.handle(Event({"Event-Name": "CUSTOM", "Event-Subclass": "sofia::register", "username": "105",
                    "realm": "pbx.local", "call-id": "r1", "contact": "<sip:105@1.2.3.4>", "expires": "600",
                    "Event-Date-Timestamp": "1795641000000000"}))
    t.resync([], [], now=1_795_641_001.0)
    assert {r.extension: r.state for r in t.extensions.records()} == {"105": "idle"}
    t.resync([], [], now=1_795_641_002.0)  # a later snapshot without it does win
    assert {r.extension: r.state for r in t.extensions.records()} == {"105": "offline"}


def test_queue_agent_originated_without_a_session_joins_the_member_call():
    """mod_callcenter originates agent legs on their own and marks them with
    cc_member_session_uuid (the caller's channel); they are that call's agents."""
    t = Tracker()
    member = trunk_leg()
    agent = agent_leg(member, "101")
    agent.callid = agent.uuid  # no originating session: its own call_uuid
    agent.variables.pop("originator")
    agent.variables["cc_member_session_uuid"] = member.uuid
    crm = feed(t, [member.create(0), member.answer(0), agent.create(5), agent.ring(5), agent.answer(7),
                   agent.hangup(20), member.hangup(20)])
    assert kinds(crm) == [(INCOMING_CALL, "101"), (CALL_LOG, "101")]
    assert {e.callid for e in crm} == {member.uuid}
    assert crm[-1].params["billsec"] == 13 and crm[-1].params["duration"] == 20


def test_attended_transfer_hands_the_customer_to_the_consulted_agent():
    t = Tracker()
    did = trunk_leg()
    first = agent_leg(did, "101")
    consult = extension_caller("101", "102")           # 101 dials 102 while the customer holds
    second = agent_leg(consult, "102")
    events = [did.create(0), first.create(0), first.ring(0), first.answer(2), did.answer(2),
              consult.create(10), second.create(10), second.ring(10), second.answer(12),
              first.hangup(15), consult.hangup(15)]
    crm = feed(t, events)
    assert kinds(crm) == [(INCOMING_CALL, "101")]       # the consultation itself is internal
    bridge = did.event("CHANNEL_BRIDGE", 15, **{"Bridge-A-Unique-ID": did.uuid,
                                                 "Bridge-B-Unique-ID": second.uuid})
    changes = t.handle(bridge)
    assert kinds(changes.crm_events) == [(INCOMING_CALL, "102")]
    assert [(c.callid, c.hangup_cause) for c in changes.calls if c.state == "ended"] == [(consult.callid, "MERGED")]
    crm = feed(t, [second.hangup(40), did.hangup(40)])
    assert kinds(crm) == [(CALL_LOG, "102")]
    assert crm[0].callid == did.uuid and crm[0].params["status"] == "ANSWERED"


def test_ring_group_through_loopback_keeps_one_call():
    """bridge loopback/<group>: the loopback pair and the agent legs it spawns
    all belong to the caller's call."""
    from channel_events import Leg
    t = Tracker()
    did = trunk_leg()
    lb_a = Leg("loopback/group-a", "outbound", callid=did.callid, originator=did.uuid)
    lb_b = Leg("loopback/group-b", "inbound")  # its own call_uuid
    lb_a.variables["other_loopback_leg_uuid"] = lb_b.uuid
    lb_b.variables["other_loopback_leg_uuid"] = lb_a.uuid
    agent = agent_leg(lb_b, "101")  # call_uuid = lb_b's
    crm = feed(t, [did.create(0), lb_a.create(0), lb_b.create(0), agent.create(0), agent.ring(0),
                   agent.answer(3), lb_b.answer(3), lb_a.answer(3), did.answer(3),
                   agent.hangup(9), lb_b.hangup(9), lb_a.hangup(9), did.hangup(9)])
    assert kinds(crm) == [(INCOMING_CALL, "101"), (CALL_LOG, "101")]
    assert {e.callid for e in crm} == {did.uuid} and crm[-1].params["billsec"] == 6


def _job(body, arg):
    from esl_connector.esl.protocol import Event
    return Event({"Event-Name": "BACKGROUND_JOB", "Job-UUID": "j1", "Job-Command": "originate",
                  "Job-Command-Arg": arg, "Event-Date-Local": "2026-11-25 21:30:00",
                  "Event-Date-Timestamp": "1795642200000000", "Core-UUID": "core-1"}, body)


CLICK_ARG = ("{origination_uuid=5ca8779a-7476-41f1-8f50-7e2fec9ae9fb,crm_userfield=ORDER-9,"
             "origination_caller_id_number=0904824242,originate_timeout=20}user/105@pbx.local "
             "&bridge({origination_caller_id_number=0281234567}sofia/gateway/pstn/0904824242)")


def test_click_to_call_to_an_unregistered_agent_still_gets_its_call_log():
    t = Tracker()
    changes = t.handle(_job("-ERR USER_NOT_REGISTERED\n", CLICK_ARG))
    (log,) = changes.crm_events
    assert log.event_type == CALL_LOG and log.callid == "5ca8779a-7476-41f1-8f50-7e2fec9ae9fb"
    assert log.params == {"callid": "5ca8779a-7476-41f1-8f50-7e2fec9ae9fb", "calldate": "2026-11-25 21:30:00",
                          "extension": "105", "phone": "0904824242", "duration": 0, "billsec": 0,
                          "status": "FAILED", "recording": "", "userfield": "ORDER-9"}
    assert changes.calls[0].hangup_cause == "USER_NOT_REGISTERED"
    assert t.handle(_job("-ERR USER_NOT_REGISTERED\n", CLICK_ARG)).crm_events == []  # once


def test_failed_originate_whose_channel_existed_is_told_by_the_channel_events():
    t = Tracker()
    agent = __import__("channel_events").Leg("sofia/internal/105@x", "outbound",
                                             uid="5ca8779a-7476-41f1-8f50-7e2fec9ae9fb",
                                             cid="0904824242", dialed_user="105", dialed_domain="pbx.local",
                                             cti_click2call="true")
    crm = feed(t, [agent.create(0), agent.ring(0), agent.hangup(20, "NO_ANSWER")])
    assert kinds(crm) == [(CALL_LOG, "105")] and crm[0].params["status"] == "NO ANSWER"
    assert t.handle(_job("-ERR NO_ANSWER\n", CLICK_ARG)).crm_events == []


def test_an_admins_originate_to_an_extension_is_not_a_click_to_call():
    """`originate user/105 &park()` (a test call, a wake-up call, paging): no
    customer leg, no click-to-call marker, nothing for the CRM."""
    t = Tracker()
    agent = __import__("channel_events").Leg("sofia/internal/105@x", "outbound", cid="0000000000",
                                             dialed_user="105", dialed_domain="pbx.local")
    assert feed(t, [agent.create(0), agent.ring(0), agent.answer(2), agent.hangup(30)]) == []


def test_other_background_jobs_are_ignored():
    t = Tracker()
    assert not t.handle(_job("+OK 5ca8779a-7476-41f1-8f50-7e2fec9ae9fb\n", CLICK_ARG))
    assert not t.handle(_job("-ERR USER_BUSY\n", "sofia/gateway/pstn/19001234 &park()"))


def _webphone_call(t, **variables):
    ext = extension_caller("102", "0911222333", sip_call_id="crm-order-7781", sip_via_protocol="wss", **variables)
    gw = gateway_leg(ext, "0911222333")
    return feed(t, [ext.create(0), gw.create(0), gw.answer(2), ext.answer(2), gw.hangup(5), ext.hangup(5)])


def test_webphone_sip_call_id_comes_back_as_userfield():
    from esl_connector.calls.call_tracker import TrackerSettings
    t = Tracker(TrackerSettings(webphone=lambda ext, domain, transport: transport in ("ws", "wss")))
    assert _webphone_call(t)[-1].params["userfield"] == "crm-order-7781"


def test_sip_call_id_of_an_ordinary_phone_is_not_a_userfield():
    from esl_connector.calls.call_tracker import TrackerSettings
    t = Tracker(TrackerSettings(webphone=lambda ext, domain, transport: ext == "150"))
    assert _webphone_call(t)[-1].params["userfield"] == ""


def test_custom_sip_header_is_a_userfield_source():
    t = Tracker()
    crm = _webphone_call(t, **{"sip_h_X-Userfield": "TICKET-42"})
    assert crm[-1].params["userfield"] == "TICKET-42"


def test_a_reload_that_renames_the_userfield_header_takes_the_new_header():
    t = Tracker()
    t.calls.use_userfield_header("X-CRM-Ref")
    crm = _webphone_call(t, **{"sip_h_X-Userfield": "OLD-1", "sip_h_X-CRM-Ref": "TICKET-43"})
    assert crm[-1].params["userfield"] == "TICKET-43"


def test_audit_while_connected_spares_legs_too_new_for_the_channel_table():
    t = Tracker()
    did = trunk_leg()
    a = agent_leg(did, "101")
    feed(t, [did.create(0), a.create(0), a.ring(0)])  # last events at T0
    from channel_events import T0
    assert t.resync([], [], now=T0 + 5, grace=10).lost_legs == 0
    result = t.resync([], [], now=T0 + 30, grace=10)
    assert result.lost_legs == 2 and not t.calls.active_calls()


def test_call_pickup_by_another_agent_is_answered_by_that_agent():
    """101 rings; 103 dials the pickup code and FreeSWITCH's intercept bridges
    103's own call to the customer: ANSWERED by 103, not a missed call."""
    t = Tracker()
    did = trunk_leg()
    ringing = agent_leg(did, "101")
    picker = extension_caller("103", "*8")
    crm = feed(t, [did.create(0), ringing.create(0), ringing.ring(0), picker.create(4), picker.answer(4)])
    assert kinds(crm) == [(INCOMING_CALL, "101")]
    bridge = did.event("CHANNEL_BRIDGE", 4, **{"Bridge-A-Unique-ID": did.uuid, "Bridge-B-Unique-ID": picker.uuid})
    t.handle(bridge)
    crm = feed(t, [ringing.hangup(4, "PICKED_OFF"), did.answer(4), picker.hangup(20), did.hangup(20)])
    assert kinds(crm) == [(CALL_LOG, "103")]
    assert (crm[0].params["status"], crm[0].params["billsec"]) == ("ANSWERED", 16)
