"""CRM delivery: the outbox's rows -> the contract's webhook requests -> the
CRMs, at least once, in order per call, with retries and dead letters.

Owns: what a webhook request is (``webhooks``, ``types``), sending one and
judging the answer (``sender``), when to retry (``retry_schedule``), what an
outcome does to a row (``store``), the engine that schedules it all
(``engine``, its outcome ``recorder``), and the admin's view and actions (``admin``).
May import: ``storage``, ``esl_connector.records``, ``esl_connector.settings``.
Never the Event Socket or the call tracker.
"""
