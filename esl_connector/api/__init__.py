"""The connector's HTTP side: one WSGI server and the routes it serves.

Owns: the server and its routing (``server``), what handlers may use
(``context``), click-to-call (``click2call``, ``click2call_validation``,
``click2call_originate``, ``rate_limit``), recording links (``recordings``), the
status API (``status``, ``status_views``, ``openapi.json``), FreeSWITCH's CDR
POSTs (``cdr``), the Prometheus metrics (``metrics``: registry and ``/metrics``;
``metrics_state``: figures read at scrape time).
May import: ``storage`` (the read side), ``esl_connector.delivery`` (its admin
actions), ``esl_connector.calls`` (plain data and markers), ``esl_connector.cdrs``
(decoding CDR bodies), ``esl_connector.esl`` (to run commands),
``esl_connector.records``, ``esl_connector.settings``, ``prometheus_client``.
"""
