"""The Event Socket: FreeSWITCH's wire protocol, and the client that keeps a
session open, subscribes to events and runs api/bgapi commands.

Owns: frame and event parsing (``protocol``; ``selective``: event-json decoded
for the headers a reader declares), one greenswitch session made
safe (``connection``), the reconnecting client (``client``), command errors and
background jobs (``commands``), the events subscribed to (``subscription``).
May import: ``esl_connector.settings`` and the standard library, greenswitch,
gevent, orjson, msgspec. Nothing here knows about calls, storage or CRMs.
"""
