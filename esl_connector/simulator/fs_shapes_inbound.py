"""Channel-variable shapes of the legs that reach FreeSWITCH (``Call-Direction: inbound``).

``did`` (the inbound trunk leg of a PSTN caller) and ``ext_out`` (an
extension's own call). Data, not logic: the table format is described in
``fs_shapes``, which joins this table with ``fs_shapes_outbound``.
"""

# fmt: off
INBOUND_SHAPES = {
    'did': {
        'create': (None, """
        direction uuid call_uuid session_id sip_from_user sip_from_uri sip_from_host
        video_media_flow audio_media_flow text_media_flow channel_name sip_call_id
        sip_local_network_addr sip_network_ip sip_network_port sip_invite_stamp sip_received_ip
        sip_received_port sip_via_protocol sip_from_user_stripped sip_from_tag
        sofia_profile_name sofia_profile_url recovery_profile_name sip_Remote-Party-ID
        sip_cid_type sip_full_via sip_from_display sip_full_from sip_full_to sip_allow
        sip_req_user sip_req_port sip_req_uri sip_req_host sip_to_user sip_to_port sip_to_uri
        sip_to_host sip_contact_params sip_contact_user sip_contact_port sip_contact_uri
        sip_contact_host rtp_use_codec_string sip_user_agent sip_via_host sip_via_port
        sip_via_rport max_forwards switch_r_sdp ep_codec_string endpoint_disposition
""", ""),
        'progress': ('create', """
        DP_MATCH outside_call RFC2822_DATE export_vars domain_name fslab_did call_timeout
        hangup_after_bridge current_application_data current_application dialed_user
        dialed_domain originate_disposition DIALSTATUS originate_signal_bond originated_legs
        sip_to_tag
""", """

"""),
        'answer': ('progress', """
        switch_m_sdp remote_video_media_flow remote_text_media_flow remote_audio_media_flow
        rtp_audio_recv_pt rtp_use_codec_name rtp_use_codec_fmtp rtp_use_codec_rate
        rtp_use_codec_ptime rtp_use_codec_channels rtp_last_audio_codec_string read_codec
        original_read_codec read_rate original_read_rate write_codec write_rate dtmf_type
        local_media_ip local_media_port advertised_media_ip rtp_use_timer_name rtp_use_pt
        rtp_use_ssrc rtp_2833_send_payload rtp_2833_recv_payload remote_media_ip
        remote_media_port rtp_local_sdp_str
""", """

"""),
        'complete_answered': ('answer', """
        originate_causes sip_cseq last_bridge_to bridge_channel bridge_uuid signal_bond
        last_sent_callee_id_name last_sent_callee_id_number sip_hangup_phrase
        last_bridge_hangup_cause last_bridge_proto_specific_hangup_cause bridge_hangup_cause
        hangup_cause hangup_cause_q850 digits_dialed start_stamp profile_start_stamp
        answer_stamp bridge_stamp progress_stamp progress_media_stamp end_stamp start_epoch
        start_uepoch profile_start_epoch profile_start_uepoch answer_epoch answer_uepoch
        bridge_epoch bridge_uepoch last_hold_epoch last_hold_uepoch hold_accum_seconds
        hold_accum_usec hold_accum_ms resurrect_epoch resurrect_uepoch progress_epoch
        progress_uepoch progress_media_epoch progress_media_uepoch end_epoch end_uepoch last_app
        last_arg caller_id duration billsec progresssec answersec waitsec progress_mediasec
        flow_billsec mduration billmsec progressmsec answermsec waitmsec progress_mediamsec
        flow_billmsec uduration billusec progressusec answerusec waitusec progress_mediausec
        flow_billusec sip_hangup_disposition rtp_audio_in_raw_bytes rtp_audio_in_media_bytes
        rtp_audio_in_packet_count rtp_audio_in_media_packet_count rtp_audio_in_skip_packet_count
        rtp_audio_in_jitter_packet_count rtp_audio_in_dtmf_packet_count
        rtp_audio_in_cng_packet_count rtp_audio_in_flush_packet_count
        rtp_audio_in_largest_jb_size rtp_audio_in_jitter_min_variance
        rtp_audio_in_jitter_max_variance rtp_audio_in_jitter_loss_rate
        rtp_audio_in_jitter_burst_rate rtp_audio_in_mean_interval rtp_audio_in_flaw_total
        rtp_audio_in_quality_percentage rtp_audio_in_mos rtp_audio_out_raw_bytes
        rtp_audio_out_media_bytes rtp_audio_out_packet_count rtp_audio_out_media_packet_count
        rtp_audio_out_skip_packet_count rtp_audio_out_dtmf_packet_count
        rtp_audio_out_cng_packet_count rtp_audio_rtcp_packet_count rtp_audio_rtcp_octet_count
""", """
        originate_signal_bond
"""),
        'complete_no_answer': ('progress', """
        last_bridge_hangup_cause originate_causes originate_failed_cause hangup_cause
        hangup_cause_q850 digits_dialed start_stamp profile_start_stamp progress_stamp end_stamp
        start_epoch start_uepoch profile_start_epoch profile_start_uepoch answer_epoch
        answer_uepoch bridge_epoch bridge_uepoch last_hold_epoch last_hold_uepoch
        hold_accum_seconds hold_accum_usec hold_accum_ms resurrect_epoch resurrect_uepoch
        progress_epoch progress_uepoch progress_media_epoch progress_media_uepoch end_epoch
        end_uepoch last_app last_arg caller_id duration billsec progresssec answersec waitsec
        progress_mediasec flow_billsec mduration billmsec progressmsec answermsec waitmsec
        progress_mediamsec flow_billmsec uduration billusec progressusec answerusec waitusec
        progress_mediausec flow_billusec sip_hangup_disposition
""", """

"""),
        'complete_busy': ('progress', """
        sip_invite_failure_status sip_invite_failure_phrase sip_hangup_phrase
        last_bridge_hangup_cause last_bridge_proto_specific_hangup_cause originate_causes
        originate_failed_cause hangup_cause hangup_cause_q850 digits_dialed start_stamp
        profile_start_stamp progress_stamp end_stamp start_epoch start_uepoch
        profile_start_epoch profile_start_uepoch answer_epoch answer_uepoch bridge_epoch
        bridge_uepoch last_hold_epoch last_hold_uepoch hold_accum_seconds hold_accum_usec
        hold_accum_ms resurrect_epoch resurrect_uepoch progress_epoch progress_uepoch
        progress_media_epoch progress_media_uepoch end_epoch end_uepoch last_app last_arg
        caller_id duration billsec progresssec answersec waitsec progress_mediasec flow_billsec
        mduration billmsec progressmsec answermsec waitmsec progress_mediamsec flow_billmsec
        uduration billusec progressusec answerusec waitusec progress_mediausec flow_billusec
        sip_hangup_disposition
""", """

"""),
        'complete_cancel': ('progress', """
        sip_hangup_disposition sip_invite_failure_status sip_invite_failure_phrase sip_reason
        sip_term_status proto_specific_hangup_cause sip_term_cause originate_causes
        originate_failed_cause hangup_cause hangup_cause_q850 digits_dialed start_stamp
        profile_start_stamp progress_stamp end_stamp start_epoch start_uepoch
        profile_start_epoch profile_start_uepoch answer_epoch answer_uepoch bridge_epoch
        bridge_uepoch last_hold_epoch last_hold_uepoch hold_accum_seconds hold_accum_usec
        hold_accum_ms resurrect_epoch resurrect_uepoch progress_epoch progress_uepoch
        progress_media_epoch progress_media_uepoch end_epoch end_uepoch last_app last_arg
        caller_id duration billsec progresssec answersec waitsec progress_mediasec flow_billsec
        mduration billmsec progressmsec answermsec waitmsec progress_mediamsec flow_billmsec
        uduration billusec progressusec answerusec waitusec progress_mediausec flow_billusec
""", """

"""),
    },
    'ext_out': {
        'create': (None, """
        direction uuid call_uuid session_id sip_from_user sip_from_port sip_from_uri
        sip_from_host video_media_flow audio_media_flow text_media_flow channel_name sip_call_id
        sip_local_network_addr sip_network_ip sip_network_port sip_invite_stamp sip_received_ip
        sip_received_port sip_via_protocol sip_authorized Event-Name Core-UUID
        FreeSWITCH-Hostname FreeSWITCH-Switchname FreeSWITCH-IPv4 FreeSWITCH-IPv6
        Event-Date-Local Event-Date-GMT Event-Date-Timestamp Event-Calling-File
        Event-Calling-Function Event-Calling-Line-Number Event-Sequence sip_number_alias
        sip_auth_username sip_auth_realm number_alias requested_user_name requested_domain_name
        record_stereo default_gateway default_areacode transfer_fallback_extension toll_allow
        accountcode user_context effective_caller_id_name effective_caller_id_number
        outbound_caller_id_name outbound_caller_id_number callgroup user_name domain_name
        sip_from_user_stripped sip_from_tag sofia_profile_name sofia_profile_url
        recovery_profile_name sip_full_via sip_full_from sip_full_to sip_allow sip_req_params
        sip_req_user sip_req_uri sip_req_host sip_to_params sip_to_user sip_to_uri sip_to_host
        sip_contact_user sip_contact_port sip_contact_uri sip_contact_host rtp_use_codec_string
        sip_user_agent sip_via_host sip_via_port sip_via_rport max_forwards presence_id
        switch_r_sdp ep_codec_string endpoint_disposition
""", ""),
        'progress': ('create', """
        DP_MATCH RFC2822_DATE export_vars hangup_after_bridge call_timeout
        current_application_data current_application originate_disposition DIALSTATUS
        originate_signal_bond originated_legs switch_m_sdp remote_video_media_flow
        remote_text_media_flow remote_audio_media_flow rtp_audio_recv_pt rtp_use_codec_name
        rtp_use_codec_rate rtp_use_codec_ptime rtp_use_codec_channels
        rtp_last_audio_codec_string read_codec original_read_codec read_rate original_read_rate
        write_codec write_rate dtmf_type local_media_ip local_media_port advertised_media_ip
        rtp_use_timer_name rtp_use_pt rtp_use_ssrc rtp_2833_send_payload rtp_2833_recv_payload
        remote_media_ip remote_media_port
""", """

"""),
        'answer': ('progress', """
        rtp_local_sdp_str
""", """

"""),
        'complete_answered': ('answer', """
        originate_causes last_bridge_to bridge_channel bridge_uuid signal_bond sip_to_tag
        sip_cseq last_sent_callee_id_name last_sent_callee_id_number sip_reason
        sip_hangup_phrase last_bridge_hangup_cause last_bridge_proto_specific_hangup_cause
        bridge_hangup_cause hangup_cause hangup_cause_q850 digits_dialed start_stamp
        profile_start_stamp answer_stamp bridge_stamp progress_media_stamp end_stamp start_epoch
        start_uepoch profile_start_epoch profile_start_uepoch answer_epoch answer_uepoch
        bridge_epoch bridge_uepoch last_hold_epoch last_hold_uepoch hold_accum_seconds
        hold_accum_usec hold_accum_ms resurrect_epoch resurrect_uepoch progress_epoch
        progress_uepoch progress_media_epoch progress_media_uepoch end_epoch end_uepoch last_app
        last_arg caller_id duration billsec progresssec answersec waitsec progress_mediasec
        flow_billsec mduration billmsec progressmsec answermsec waitmsec progress_mediamsec
        flow_billmsec uduration billusec progressusec answerusec waitusec progress_mediausec
        flow_billusec sip_hangup_disposition rtp_audio_in_raw_bytes rtp_audio_in_media_bytes
        rtp_audio_in_packet_count rtp_audio_in_media_packet_count rtp_audio_in_skip_packet_count
        rtp_audio_in_jitter_packet_count rtp_audio_in_dtmf_packet_count
        rtp_audio_in_cng_packet_count rtp_audio_in_flush_packet_count
        rtp_audio_in_largest_jb_size rtp_audio_in_jitter_min_variance
        rtp_audio_in_jitter_max_variance rtp_audio_in_jitter_loss_rate
        rtp_audio_in_jitter_burst_rate rtp_audio_in_mean_interval rtp_audio_in_flaw_total
        rtp_audio_in_quality_percentage rtp_audio_in_mos rtp_audio_out_raw_bytes
        rtp_audio_out_media_bytes rtp_audio_out_packet_count rtp_audio_out_media_packet_count
        rtp_audio_out_skip_packet_count rtp_audio_out_dtmf_packet_count
        rtp_audio_out_cng_packet_count rtp_audio_rtcp_packet_count rtp_audio_rtcp_octet_count
""", """
        originate_signal_bond
"""),
        'complete_recorded': ('complete_answered', """
        RECORD_STEREO fslab_recording_path record_file_size record_samples record_seconds
        record_ms record_completion_cause
""", """
        record_stereo
"""),
    },
}
