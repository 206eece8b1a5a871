"""The terminal UI (``esl-connector tui``): extensions, calls, deliveries and
the connector's health, live, in a terminal.

A separate process from the connector (Textual's asyncio and gevent's
monkey-patching do not share a process well): it reads the connector's status
API over HTTP, as any client would. It imports textual, httpx and the
standard library only, never ``esl_connector`` or ``storage``.

Layout: ``app.py`` wires the screens, the data source and the refresh timer;
``client.py`` is the data source (the status API); one screen per module in
``screens/``, one widget per module in ``widgets/``; cross-widget messages
in ``messages.py``; all styling in ``app.tcss``; pure parts, tested without
Textual: ``formatting.py``, ``table_view.py`` (the ``/`` filter and the sort)
and ``backoff.py`` (when to ask again after failures).
"""
