"""FreeSWITCH -> CRM connector (CTI): Event Socket in, CRM webhooks out.

The sub-packages follow the data flow: ``esl`` (the Event Socket) -> ``calls``
(the call tracker, pure) -> ``storage`` (top level: calls, extensions, outbox)
-> ``delivery`` (the CRMs). ``api`` is the HTTP side, ``settings`` the
configuration every part imports, ``records`` the plain data passed between
stages, ``simulator`` a FreeSWITCH stand-in. ``app`` wires them; ``reload``
applies a configuration read again while running; ``logs`` formats the log
lines (plain or JSON, secrets masked); ``cli`` and ``demo`` are the entry points.
"""

__version__ = "0.1.0"
