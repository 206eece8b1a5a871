"""Storage: persists the call tracker's ``Changes`` (calls, extensions and the
CRM event outbox) in SQLite or PostgreSQL.

Start-up::

    db = open_database(settings.database_url)   # binds the models
    migrate(db)
    writer = StorageWriter(db); writer.start()
    ...
    writer.submit(changes)                      # from the tracker, never blocks
    ...
    writer.stop()                               # flushes

Owns: the tables and their migrations, the writer (the only writer of calls,
extensions and the outbox), and the read side (``queries``, returning the plain
dataclasses of ``views``).
May import: ``esl_connector.records`` (the plain data it persists), peewee and orjson;
nothing else of the connector. See docs/storage.md.
"""

from .db import StorageError, connected, database, open_database, parse_database_url
from .migrations import MigrationError, current_version, migrate
from .writer import StorageWriter
from .writer_status import CommitInfo, WriterStatus

__all__ = [
    "CommitInfo", "MigrationError", "StorageError", "StorageWriter", "WriterStatus",
    "connected", "current_version", "database", "migrate", "open_database",
    "parse_database_url",
]
