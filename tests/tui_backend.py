"""The connector side of the TUI tests, in its own process (gevent there,
Textual's asyncio in pytest's): the demo's simulator, connector and CRM
receivers, with no random traffic, a bearer token, and customer ``flaky``'s
CRM answering 400 to everything (each of its events is a dead letter at once).

Prints one JSON line ({"api": URL, "token": ..., "extensions": [...]}) when
ready; stops on SIGTERM or when its standard input closes (pytest is gone).

    python tests/tui_backend.py DB_PATH
"""

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402

from esl_connector.demo import FlakyCrm, start_stack  # noqa: E402

TOKEN = "tui-test-token-0123456789"
EXTENSIONS = ["101", "102", "103", "104"]  # demo: 101-102, flaky: 103-104


def main(db_path: str) -> None:
    stack = start_stack(EXTENSIONS, 20.0, Path(db_path), flaky=FlakyCrm(retry_every=0, dead_every=1),
                        api_token=TOKEN)
    stop = Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    watcher = gevent.get_hub().threadpool.spawn(sys.stdin.read)  # EOF: the test process is gone
    watcher.rawlink(lambda _result: stop.set())
    print(json.dumps({"api": stack.api_url, "token": TOKEN, "extensions": EXTENSIONS}), flush=True)
    try:
        stop.wait()
    finally:
        stack.stop()


if __name__ == "__main__":
    main(sys.argv[1])
