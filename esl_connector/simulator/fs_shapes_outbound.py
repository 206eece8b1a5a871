"""Channel-variable shapes of the legs FreeSWITCH originates (``Call-Direction: outbound``).

``agent`` (user/<ext> rung for an inbound call or a ring group), ``gateway``
(the sofia/external/<number> B-leg towards the PSTN) and ``c2c_agent`` (the
agent A-leg made by ``originate``). Data, not logic: the table format is
described in ``fs_shapes``, which joins this table with ``fs_shapes_inbound``.
"""

# fmt: off
OUTBOUND_SHAPES = {
    'agent': {
        'create': (None, """
        direction is_outbound uuid session_id sip_local_network_addr sip_profile_name
        text_media_flow channel_name sip_destination_url sip_cid_type max_forwards
        originator_codec originator signal_bond switch_m_sdp call_uuid dialed_user dialed_domain
        export_vars RFC2822_DATE sip_invite_domain presence_id originate_early_media
        originating_leg_uuid originate_endpoint rtp_use_codec_string local_media_ip
        local_media_port advertised_media_ip audio_media_flow video_media_flow rtp_local_sdp_str
        sip_outgoing_contact_uri sip_req_uri sip_to_host sip_from_host sofia_profile_name
        recovery_profile_name sofia_profile_url
""", ""),
        'progress': ('create', """
        sip_reply_host sip_reply_port sip_network_ip sip_network_port sip_user_agent sip_allow
        sip_recover_contact sip_full_via sip_recover_via sip_from_display sip_full_from
        sip_full_to sip_from_user sip_from_uri sip_to_user sip_to_port sip_to_uri
        sip_contact_user sip_contact_port sip_contact_uri sip_contact_host sip_to_tag
        sip_from_tag sip_cseq sip_call_id
""", """

"""),
        'answer': ('progress', """
        switch_r_sdp ep_codec_string remote_video_media_flow remote_text_media_flow
        remote_audio_media_flow rtp_audio_recv_pt rtp_use_codec_name rtp_use_codec_rate
        rtp_use_codec_ptime rtp_use_codec_channels rtp_last_audio_codec_string read_codec
        original_read_codec read_rate original_read_rate write_codec write_rate dtmf_type
        rtp_use_timer_name rtp_use_pt rtp_use_ssrc rtp_2833_send_payload rtp_2833_recv_payload
        remote_media_ip remote_media_port
""", """

"""),
        'complete_answered': ('answer', """
        endpoint_disposition record_stereo default_gateway default_areacode
        transfer_fallback_extension toll_allow accountcode user_context effective_caller_id_name
        effective_caller_id_number outbound_caller_id_name outbound_caller_id_number callgroup
        last_bridge_to bridge_channel bridge_uuid last_sent_callee_id_name
        last_sent_callee_id_number sip_term_status proto_specific_hangup_cause sip_term_cause
        last_bridge_role sip_hangup_disposition hangup_cause hangup_cause_q850 digits_dialed
        start_stamp profile_start_stamp answer_stamp bridge_stamp progress_stamp end_stamp
        start_epoch start_uepoch profile_start_epoch profile_start_uepoch answer_epoch
        answer_uepoch bridge_epoch bridge_uepoch last_hold_epoch last_hold_uepoch
        hold_accum_seconds hold_accum_usec hold_accum_ms resurrect_epoch resurrect_uepoch
        progress_epoch progress_uepoch progress_media_epoch progress_media_uepoch end_epoch
        end_uepoch caller_id duration billsec progresssec answersec waitsec progress_mediasec
        flow_billsec mduration billmsec progressmsec answermsec waitmsec progress_mediamsec
        flow_billmsec uduration billusec progressusec answerusec waitusec progress_mediausec
        flow_billusec rtp_audio_in_raw_bytes rtp_audio_in_media_bytes rtp_audio_in_packet_count
        rtp_audio_in_media_packet_count rtp_audio_in_skip_packet_count
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

"""),
        'complete_no_answer': ('progress', """
        hangup_cause hangup_cause_q850 digits_dialed start_stamp profile_start_stamp
        progress_stamp end_stamp start_epoch start_uepoch profile_start_epoch
        profile_start_uepoch answer_epoch answer_uepoch bridge_epoch bridge_uepoch
        last_hold_epoch last_hold_uepoch hold_accum_seconds hold_accum_usec hold_accum_ms
        resurrect_epoch resurrect_uepoch progress_epoch progress_uepoch progress_media_epoch
        progress_media_uepoch end_epoch end_uepoch caller_id duration billsec progresssec
        answersec waitsec progress_mediasec flow_billsec mduration billmsec progressmsec
        answermsec waitmsec progress_mediamsec flow_billmsec uduration billusec progressusec
        answerusec waitusec progress_mediausec flow_billusec sip_hangup_disposition
        sip_invite_failure_status sip_invite_failure_phrase
""", """

"""),
        'complete_busy': ('progress', """
        sip_hangup_disposition sip_invite_failure_status sip_invite_failure_phrase
        sip_term_status proto_specific_hangup_cause sip_term_cause hangup_cause
        hangup_cause_q850 digits_dialed start_stamp profile_start_stamp progress_stamp end_stamp
        start_epoch start_uepoch profile_start_epoch profile_start_uepoch answer_epoch
        answer_uepoch bridge_epoch bridge_uepoch last_hold_epoch last_hold_uepoch
        hold_accum_seconds hold_accum_usec hold_accum_ms resurrect_epoch resurrect_uepoch
        progress_epoch progress_uepoch progress_media_epoch progress_media_uepoch end_epoch
        end_uepoch caller_id duration billsec progresssec answersec waitsec progress_mediasec
        flow_billsec mduration billmsec progressmsec answermsec waitmsec progress_mediamsec
        flow_billmsec uduration billusec progressusec answerusec waitusec progress_mediausec
        flow_billusec
""", """

"""),
        'complete_cancel': ('progress', """
        sip_reason sip_hangup_phrase last_bridge_hangup_cause
        last_bridge_proto_specific_hangup_cause hangup_cause hangup_cause_q850 digits_dialed
        start_stamp profile_start_stamp progress_stamp end_stamp start_epoch start_uepoch
        profile_start_epoch profile_start_uepoch answer_epoch answer_uepoch bridge_epoch
        bridge_uepoch last_hold_epoch last_hold_uepoch hold_accum_seconds hold_accum_usec
        hold_accum_ms resurrect_epoch resurrect_uepoch progress_epoch progress_uepoch
        progress_media_epoch progress_media_uepoch end_epoch end_uepoch caller_id duration
        billsec progresssec answersec waitsec progress_mediasec flow_billsec mduration billmsec
        progressmsec answermsec waitmsec progress_mediamsec flow_billmsec uduration billusec
        progressusec answerusec waitusec progress_mediausec flow_billusec sip_hangup_disposition
        sip_invite_failure_status sip_invite_failure_phrase
""", """

"""),
    },
    'gateway': {
        'create': (None, """
        direction is_outbound uuid session_id sip_gateway_name sip_local_network_addr
        sip_profile_name text_media_flow channel_name sip_destination_url max_forwards
        originator_codec originator signal_bond switch_m_sdp call_uuid export_vars RFC2822_DATE
        originate_early_media originating_leg_uuid originate_endpoint rtp_use_codec_string
        local_media_ip local_media_port advertised_media_ip audio_media_flow video_media_flow
        rtp_local_sdp_str sip_outgoing_contact_uri sip_req_uri sip_to_host sip_from_host
        sofia_profile_name recovery_profile_name sofia_profile_url
""", ""),
        'answer': ('create', """
        sip_reply_host sip_reply_port sip_network_ip sip_network_port sip_user_agent sip_allow
        sip_recover_contact sip_full_via sip_recover_via sip_from_display sip_full_from
        sip_full_to sip_from_user sip_from_uri sip_to_user sip_to_port sip_to_uri
        sip_contact_params sip_contact_user sip_contact_port sip_contact_uri sip_contact_host
        sip_to_tag sip_from_tag sip_cseq sip_call_id switch_r_sdp ep_codec_string
        remote_video_media_flow remote_text_media_flow remote_audio_media_flow rtp_audio_recv_pt
        rtp_use_codec_name rtp_use_codec_rate rtp_use_codec_ptime rtp_use_codec_channels
        rtp_last_audio_codec_string read_codec original_read_codec read_rate original_read_rate
        write_codec write_rate dtmf_type rtp_use_timer_name rtp_use_pt rtp_use_ssrc
        rtp_2833_send_payload rtp_2833_recv_payload remote_media_ip remote_media_port
""", """

"""),
        'complete_answered': ('answer', """
        endpoint_disposition last_bridge_to bridge_channel bridge_uuid last_sent_callee_id_name
        last_sent_callee_id_number sip_reason sip_term_status proto_specific_hangup_cause
        sip_term_cause last_bridge_role sip_hangup_disposition hangup_cause hangup_cause_q850
        digits_dialed start_stamp profile_start_stamp answer_stamp bridge_stamp end_stamp
        start_epoch start_uepoch profile_start_epoch profile_start_uepoch answer_epoch
        answer_uepoch bridge_epoch bridge_uepoch last_hold_epoch last_hold_uepoch
        hold_accum_seconds hold_accum_usec hold_accum_ms resurrect_epoch resurrect_uepoch
        progress_epoch progress_uepoch progress_media_epoch progress_media_uepoch end_epoch
        end_uepoch caller_id duration billsec progresssec answersec waitsec progress_mediasec
        flow_billsec mduration billmsec progressmsec answermsec waitmsec progress_mediamsec
        flow_billmsec uduration billusec progressusec answerusec waitusec progress_mediausec
        flow_billusec rtp_audio_in_raw_bytes rtp_audio_in_media_bytes rtp_audio_in_packet_count
        rtp_audio_in_media_packet_count rtp_audio_in_skip_packet_count
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

"""),
    },
    'c2c_agent': {
        'create': (None, """
        direction is_outbound uuid call_uuid session_id sip_local_network_addr sip_profile_name
        video_media_flow text_media_flow channel_name sip_destination_url origination_uuid
        crm_userfield origination_caller_id_number origination_caller_id_name originate_timeout
        dialed_user dialed_domain sip_invite_domain presence_id originate_early_media
        originate_endpoint rtp_use_codec_string local_media_ip local_media_port
        advertised_media_ip audio_media_flow rtp_local_sdp_str sip_outgoing_contact_uri
        sip_req_uri sip_to_host sip_from_host sofia_profile_name recovery_profile_name
        sofia_profile_url
""", ""),
        'progress': ('create', """
        sip_reply_host sip_reply_port sip_network_ip sip_network_port sip_user_agent sip_allow
        sip_recover_contact sip_full_via sip_recover_via sip_from_display sip_full_from
        sip_full_to sip_from_user sip_from_uri sip_to_user sip_to_port sip_to_uri
        sip_contact_user sip_contact_port sip_contact_uri sip_contact_host sip_to_tag
        sip_from_tag sip_cseq sip_call_id
""", """

"""),
        'answer': ('progress', """
        switch_r_sdp ep_codec_string remote_video_media_flow remote_text_media_flow
        remote_audio_media_flow rtp_audio_recv_pt rtp_use_codec_name rtp_use_codec_rate
        rtp_use_codec_ptime rtp_use_codec_channels rtp_last_audio_codec_string read_codec
        original_read_codec read_rate original_read_rate write_codec write_rate dtmf_type
        rtp_use_timer_name rtp_use_pt rtp_use_ssrc rtp_2833_send_payload rtp_2833_recv_payload
        remote_media_ip remote_media_port
""", """

"""),
        'complete_answered': ('answer', """
        endpoint_disposition record_stereo default_gateway default_areacode
        transfer_fallback_extension toll_allow accountcode user_context effective_caller_id_name
        effective_caller_id_number outbound_caller_id_name outbound_caller_id_number callgroup
        pre_transfer_caller_id_name pre_transfer_caller_id_number channel_cid_flipped
        current_application_data current_application originated_legs switch_m_sdp
        originate_disposition DIALSTATUS originate_causes last_bridge_to bridge_channel
        bridge_uuid signal_bond last_sent_callee_id_name last_sent_callee_id_number sip_reason
        sip_hangup_phrase last_bridge_hangup_cause last_bridge_proto_specific_hangup_cause
        bridge_hangup_cause hangup_cause hangup_cause_q850 digits_dialed start_stamp
        profile_start_stamp answer_stamp bridge_stamp progress_stamp end_stamp start_epoch
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

"""),
    },
}
