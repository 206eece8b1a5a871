"""Values of the channel variables listed in ``fs_shapes`` (data, not logic).

Templates use ``str.format`` fields filled from a leg's context (``{uuid}``,
``{other_uuid}``, ``{chan}``, ``{ext}``, ``{cid_num}``, ...; see
``legs.Leg.context``). Media details (SDP, RTP counters, ports) are canned
values from the recordings: the simulator carries no audio. Time and outcome
variables (stamps, billsec, hangup causes, ...) are computed in ``legs.py``,
not here. ``KIND_VALUES`` overrides a value for one leg kind.
"""

# fmt: off
VALUES = {'RECORD_STEREO': 'true',
 'accountcode': '{ext}',
 'advertised_media_ip': '127.0.0.1',
 'audio_media_flow': 'sendrecv',
 'bridge_channel': '{other_chan}',
 'bridge_to': '{other_uuid}',
 'bridge_uuid': '{other_uuid}',
 'call_timeout': '10',
 'call_uuid': '{uuid}',
 'caller_id': '"{cid_name}" <{cid_num}>',
 'callgroup': 'agents',
 'channel_cid_flipped': 'yes',
 'channel_name': '{chan}',
 'default_areacode': '918',
 'default_gateway': 'example.com',
 'dialed_domain': '127.0.0.1',
 'dialed_user': '{ext}',
 'digits_dialed': 'none',
 'direction': 'outbound',
 'domain_name': '127.0.0.1',
 'dtmf_type': 'rfc2833',
 'effective_caller_id_name': 'Agent {ext}',
 'effective_caller_id_number': '{ext}',
 'endpoint_disposition': 'ANSWER',
 'ep_codec_string': 'CORE_PCM_MODULE.PCMU@8000h@20i@64000b,CORE_PCM_MODULE.PCMA@8000h@20i@64000b',
 'export_vars': 'RFC2822_DATE',
 'fslab_did': '{did}',
 'hangup_after_bridge': 'true',
 'is_outbound': 'true',
 'last_bridge_role': 'originatee',
 'last_bridge_to': '{other_uuid}',
 'last_sent_callee_id_name': '{cid_name}',
 'last_sent_callee_id_number': '{cid_num}',
 'local_media_ip': '127.0.0.1',
 'local_media_port': '18374',
 'max_forwards': '69',
 'number_alias': '{ext}',
 'original_read_codec': 'PCMU',
 'original_read_rate': '8000',
 'originate_early_media': 'true',
 'originate_endpoint': 'sofia',
 'originate_timeout': '20',
 'originating_leg_uuid': '{other_uuid}',
 'origination_caller_id_name': '{cid_name}',
 'origination_caller_id_number': '{cid_num}',
 'origination_uuid': '{uuid}',
 'originator': '{other_uuid}',
 'originator_codec': ('mod_opus.opus@48000h@20i@2c,CORE_PCM_MODULE.PCMU@8000h@20i@64000b,'
                      'CORE_PCM_MODULE.PCMA@8000h@20i@64000b'),
 'outbound_caller_id_name': 'FSLab',
 'outbound_caller_id_number': '{outbound_cid}',
 'outside_call': 'true',
 'pre_transfer_caller_id_name': '{cid_name}',
 'pre_transfer_caller_id_number': '{cid_num}',
 'presence_id': '{ext}@127.0.0.1',
 'read_codec': 'PCMU',
 'read_rate': '8000',
 'record_stereo': 'true',
 'recovery_profile_name': 'internal',
 'remote_audio_media_flow': 'sendrecv',
 'remote_media_ip': '127.0.0.1',
 'remote_media_port': '30126',
 'remote_text_media_flow': 'inactive',
 'remote_video_media_flow': 'inactive',
 'requested_domain_name': '127.0.0.1',
 'requested_user_name': '{ext}',
 'rtp_2833_recv_payload': '101',
 'rtp_2833_send_payload': '101',
 'rtp_audio_in_cng_packet_count': '0',
 'rtp_audio_in_dtmf_packet_count': '0',
 'rtp_audio_in_flaw_total': '0',
 'rtp_audio_in_flush_packet_count': '0',
 'rtp_audio_in_jitter_burst_rate': '0.00',
 'rtp_audio_in_jitter_loss_rate': '0.00',
 'rtp_audio_in_jitter_max_variance': '0.00',
 'rtp_audio_in_jitter_min_variance': '0.00',
 'rtp_audio_in_jitter_packet_count': '0',
 'rtp_audio_in_largest_jb_size': '0',
 'rtp_audio_in_mean_interval': '20.00',
 'rtp_audio_in_media_bytes': '25628',
 'rtp_audio_in_media_packet_count': '149',
 'rtp_audio_in_mos': '4.50',
 'rtp_audio_in_packet_count': '149',
 'rtp_audio_in_quality_percentage': '100.00',
 'rtp_audio_in_raw_bytes': '25628',
 'rtp_audio_in_skip_packet_count': '2',
 'rtp_audio_out_cng_packet_count': '0',
 'rtp_audio_out_dtmf_packet_count': '0',
 'rtp_audio_out_media_bytes': '25456',
 'rtp_audio_out_media_packet_count': '148',
 'rtp_audio_out_packet_count': '148',
 'rtp_audio_out_raw_bytes': '25456',
 'rtp_audio_out_skip_packet_count': '0',
 'rtp_audio_recv_pt': '0',
 'rtp_audio_rtcp_octet_count': '0',
 'rtp_audio_rtcp_packet_count': '0',
 'rtp_last_audio_codec_string': 'PCMU@8000h@20i@1c',
 'rtp_local_sdp_str': 'v=0\r\n'
                      'o=FreeSWITCH 1795622699 1795622700 IN IP4 127.0.0.1\r\n'
                      's=FreeSWITCH\r\n'
                      'c=IN IP4 127.0.0.1\r\n'
                      't=0 0\r\n'
                      'm=audio 18374 RTP/AVP 102 0 8 103 101\r\n'
                      'a=rtpmap:102 opus/48000/2\r\n'
                      'a=fmtp:102 useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; '
                      'ptime=20; minptime=10; maxptime=40; stereo=1\r\n'
                      'a=rtpmap:0 PCMU/8000\r\n'
                      'a=rtpmap:8 PCMA/8000\r\n'
                      'a=rtpmap:103 telephone-event/48000\r\n'
                      'a=fmtp:103 0-15\r\n'
                      'a=rtpmap:101 telephone-event/8000\r\n'
                      'a=fmtp:101 0-15\r\n'
                      'a=ptime:20\r\n'
                      'a=sendrecv\r\n',
 'rtp_use_codec_channels': '1',
 'rtp_use_codec_fmtp': 'useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; ptime=20; '
                       'minptime=10; maxptime=40',
 'rtp_use_codec_name': 'PCMU',
 'rtp_use_codec_ptime': '20',
 'rtp_use_codec_rate': '8000',
 'rtp_use_codec_string': 'OPUS,G722,PCMU,PCMA,H264,VP8',
 'rtp_use_pt': '0',
 'rtp_use_ssrc': '655077961',
 'rtp_use_timer_name': 'soft',
 'signal_bond': '{other_uuid}',
 'sip_Remote-Party-ID': '"{cid_name}" <sip:{cid_num}@127.0.0.1>;party=calling;screen=yes;privacy=off',
 'sip_allow': 'INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY, SUBSCRIBE, INFO, MESSAGE, REFER',
 'sip_auth_realm': '127.0.0.1',
 'sip_auth_username': '{ext}',
 'sip_authorized': 'true',
 'sip_call_id': '{sip_call_id}',
 'sip_cid_type': 'rpid',
 'sip_contact_host': '127.0.0.1',
 'sip_contact_params': 'transport=udp;gw=pstn',
 'sip_contact_port': '{contact_port}',
 'sip_contact_uri': '{contact_user}@127.0.0.1:{contact_port}',
 'sip_contact_user': '{contact_user}',
 'sip_cseq': '123266744',
 'sip_destination_url': 'sip:{contact_user}@127.0.0.1:{contact_port}',
 'sip_from_display': '{cid_name}',
 'sip_from_host': '127.0.0.1',
 'sip_from_port': '5060',
 'sip_from_tag': '{from_tag}',
 'sip_from_uri': '{cid_num}@127.0.0.1',
 'sip_from_user': '{cid_num}',
 'sip_from_user_stripped': '{cid_num}',
 'sip_full_from': '"{cid_name}" <sip:{cid_num}@127.0.0.1>;tag={from_tag}',
 'sip_full_to': '<sip:{contact_user}@127.0.0.1:{contact_port}>;tag={to_tag}',
 'sip_full_via': 'SIP/2.0/UDP 127.0.0.1;branch={via_branch};rport=5060;received=127.0.0.1',
 'sip_gateway_name': 'pstn',
 'sip_invite_domain': '127.0.0.1',
 'sip_local_network_addr': '127.0.0.1',
 'sip_network_ip': '127.0.0.1',
 'sip_network_port': '{contact_port}',
 'sip_number_alias': '{ext}',
 'sip_outgoing_contact_uri': '<sip:mod_sofia@127.0.0.1:5060>',
 'sip_profile_name': 'internal',
 'sip_received_ip': '127.0.0.1',
 'sip_received_port': '5080',
 'sip_recover_contact': '<sip:{contact_user}@127.0.0.1:{contact_port}>',
 'sip_recover_via': 'SIP/2.0/UDP 127.0.0.1;branch={via_branch};rport=5060;received=127.0.0.1',
 'sip_reply_host': '127.0.0.1',
 'sip_reply_port': '{contact_port}',
 'sip_req_host': '127.0.0.1',
 'sip_req_params': 'transport=udp',
 'sip_req_port': '5080',
 'sip_req_uri': '{contact_user}@127.0.0.1:{contact_port}',
 'sip_req_user': '{did}',
 'sip_to_host': '127.0.0.1',
 'sip_to_params': 'transport=udp',
 'sip_to_port': '{contact_port}',
 'sip_to_tag': '{to_tag}',
 'sip_to_uri': '{contact_user}@127.0.0.1:{contact_port}',
 'sip_to_user': '{contact_user}',
 'sip_user_agent': 'baresip v1.0.0 (x86_64/linux)',
 'sip_via_host': '127.0.0.1',
 'sip_via_port': '5080',
 'sip_via_protocol': 'udp',
 'sip_via_rport': '5080',
 'sofia_profile_name': 'internal',
 'sofia_profile_url': 'sip:mod_sofia@127.0.0.1:5060',
 'switch_m_sdp': 'v=0\r\n'
                 'o=FreeSWITCH 1795611923 1795611924 IN IP4 127.0.0.1\r\n'
                 's=FreeSWITCH\r\n'
                 'c=IN IP4 127.0.0.1\r\n'
                 't=0 0\r\n'
                 'm=audio 29150 RTP/AVP 102 0 8 103 101\r\n'
                 'a=rtpmap:102 opus/48000/2\r\n'
                 'a=fmtp:102 useinbandfec=1; maxaveragebitrate=30000; maxplaybackrate=48000; '
                 'ptime=20; minptime=10; maxptime=40\r\n'
                 'a=rtpmap:0 PCMU/8000\r\n'
                 'a=rtpmap:8 PCMA/8000\r\n'
                 'a=rtpmap:103 telephone-event/48000\r\n'
                 'a=fmtp:103 0-15\r\n'
                 'a=rtpmap:101 telephone-event/8000\r\n'
                 'a=fmtp:101 0-15\r\n'
                 'a=ptime:20\r\n',
 'switch_r_sdp': 'v=0\r\n'
                 'o=- 1816161344 370385754 IN IP4 127.0.0.1\r\n'
                 's=-\r\n'
                 'c=IN IP4 127.0.0.1\r\n'
                 't=0 0\r\n'
                 'a=tool:baresip 1.0.0\r\n'
                 'm=audio 30126 RTP/AVP 0 8 101\r\n'
                 'a=rtpmap:0 PCMU/8000\r\n'
                 'a=rtpmap:8 PCMA/8000\r\n'
                 'a=rtpmap:101 telephone-event/8000\r\n'
                 'a=fmtp:101 0-15\r\n'
                 'a=label:1\r\n'
                 'a=ssrc:2218274971 cname:sip:{contact_user}@127.0.0.1:{contact_port}\r\n'
                 'a=minptime:20\r\n'
                 'a=ptime:20\r\n',
 'text_media_flow': 'disabled',
 'toll_allow': 'domestic,international,local',
 'transfer_fallback_extension': 'operator',
 'user_context': 'default',
 'user_name': '{ext}',
 'uuid': '{uuid}',
 'video_media_flow': 'disabled',
 'write_codec': 'PCMU',
 'write_rate': '8000'}

KIND_VALUES = {'agent': {'call_uuid': '{other_uuid}',
           'originate_endpoint': 'user',
           'sip_to_host': '127.0.0.1:{contact_port}'},
 'c2c_agent': {'caller_id': '"Outbound Call" <{contact_user}>',
               'last_sent_callee_id_name': '{cid_num}',
               'originate_endpoint': 'user',
               'sip_to_host': '127.0.0.1:{contact_port}'},
 'did': {'direction': 'inbound',
         'endpoint_disposition': 'EARLY MEDIA',
         'last_sent_callee_id_name': 'Outbound Call',
         'last_sent_callee_id_number': '{other_contact_user}',
         'max_forwards': '70',
         'recovery_profile_name': 'external',
         'sip_allow': 'INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, '
                      'NOTIFY',
         'sip_contact_port': '5080',
         'sip_contact_uri': '{contact_user}@127.0.0.1:5080',
         'sip_full_to': '<sip:{did}@127.0.0.1:5080>;tag={to_tag}',
         'sip_full_via': 'SIP/2.0/UDP 127.0.0.1:5080;rport=5080;branch={via_branch}',
         'sip_network_port': '5080',
         'sip_req_uri': '{did}@127.0.0.1:5080',
         'sip_to_port': '5080',
         'sip_to_uri': '{did}@127.0.0.1:5080',
         'sip_to_user': '{did}',
         'sip_user_agent': 'FreeSWITCH-mod_sofia/1.10.12-release~64bit',
         'sofia_profile_name': 'external',
         'sofia_profile_url': 'sip:mod_sofia@127.0.0.1:5080'},
 'ext_out': {'call_timeout': '20',
             'caller_id': '"{ext}" <102>',
             'direction': 'inbound',
             'effective_caller_id_number': '{outbound_cid}',
             'endpoint_disposition': 'EARLY MEDIA',
             'last_sent_callee_id_name': '{number}',
             'last_sent_callee_id_number': '{number}',
             'max_forwards': '70',
             'sip_from_uri': '{ext}@127.0.0.1:5060',
             'sip_from_user': '{ext}',
             'sip_from_user_stripped': '{ext}',
             'sip_full_from': '<sip:{ext}@127.0.0.1:5060>;tag={from_tag}',
             'sip_full_to': '<sip:9{number}@127.0.0.1;transport=udp>;tag={to_tag}',
             'sip_full_via': 'SIP/2.0/UDP '
                             '127.0.0.1:{contact_port};branch=z9hG4bK9dd269b591c86b2f;rport={contact_port}',
             'sip_received_port': '{contact_port}',
             'sip_req_uri': '9{number}@127.0.0.1',
             'sip_req_user': '9{number}',
             'sip_to_uri': '9{number}@127.0.0.1',
             'sip_to_user': '9{number}',
             'sip_via_port': '{contact_port}',
             'sip_via_rport': '{contact_port}'},
 'gateway': {'call_uuid': '{other_uuid}',
             'caller_id': '"Agent {ext}" <{outbound_cid}>',
             'last_sent_callee_id_name': 'Agent {ext}',
             'last_sent_callee_id_number': '{outbound_cid}',
             'recovery_profile_name': 'external',
             'sip_allow': 'INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, '
                          'REFER, NOTIFY',
             'sip_contact_port': '5080',
             'sip_contact_uri': '{contact_user}@127.0.0.1:5080',
             'sip_destination_url': 'sip:{contact_user}@127.0.0.1:5080',
             'sip_from_display': 'Agent {ext}',
             'sip_from_uri': '{outbound_cid}@127.0.0.1',
             'sip_from_user': '{outbound_cid}',
             'sip_full_from': '"Agent {ext}" <sip:{outbound_cid}@127.0.0.1>;tag={from_tag}',
             'sip_full_to': '<sip:{contact_user}@127.0.0.1:5080>;tag={to_tag}',
             'sip_full_via': 'SIP/2.0/UDP 127.0.0.1:5080;rport=5080;branch={via_branch}',
             'sip_network_port': '5080',
             'sip_outgoing_contact_uri': '<sip:gw+pstn@127.0.0.1:5080;transport=udp;gw=pstn>',
             'sip_profile_name': 'gateway',
             'sip_recover_contact': '<sip:{contact_user}@127.0.0.1:5080;transport=udp>',
             'sip_recover_via': 'SIP/2.0/UDP 127.0.0.1:5080;rport=5080;branch={via_branch}',
             'sip_reply_port': '5080',
             'sip_req_uri': '{contact_user}@127.0.0.1:5080',
             'sip_to_host': '127.0.0.1:5080',
             'sip_to_port': '5080',
             'sip_to_uri': '{contact_user}@127.0.0.1:5080',
             'sip_user_agent': 'FreeSWITCH-mod_sofia/1.10.12-release~64bit',
             'sofia_profile_name': 'external',
             'sofia_profile_url': 'sip:mod_sofia@127.0.0.1:5080'}}
