"""CDRs from FreeSWITCH (mod_json_cdr): the second source of truth for ended calls.

Owns: decoding what mod_json_cdr posts or writes (``decode``), storing and
applying each leg's CDR once (``service``), reading its directories
(``scanner``). The HTTP route is ``esl_connector.api.cdr``; the pure rules
are ``esl_connector.calls.cdr*``.
May import: ``esl_connector.calls``, ``esl_connector.records``,
``esl_connector.settings``, ``storage``. Not the HTTP side or delivery.
"""
