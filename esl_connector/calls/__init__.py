"""The call tracker: FreeSWITCH events -> legs -> calls and extensions -> the
CRM events and call logs they make. Pure logic, no I/O.

Owns: one channel as the tracker sees it (``legs``), a call's legs and what they
make it (``call_model``), the call log (``call_log``, ``call_records``), calls
(``call_tracker``, its settings ``tracker_settings`` and what it learns outside
the event stream ``outside_ends``), a live call's state as plain data for storage to keep and
the tracker to take up after a restart (``call_state``), presence
(``extensions``), originate jobs (``originate_jobs``), FreeSWITCH's CDRs as a
second source for ended calls (``cdr``, ``cdr_calls``, ``cdr_tracker``), the
event headers it reads (``event_headers``, so the Event Socket side decodes only
those) and the single entry point ``tracker.Tracker``.
May import: ``esl_connector.esl.protocol`` (the ``Event`` type),
``esl_connector.records``, ``esl_connector.settings``. Never storage, delivery
or the HTTP side: they consume what this package produces.
"""
