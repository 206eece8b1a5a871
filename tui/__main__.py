"""``python -m tui --url http://127.0.0.1:8080 [--token T]``: the TUI on its own
(``esl-connector tui`` is the same, and can read the URL from a config file)."""

from __future__ import annotations

import argparse
import os

from .app import DEFAULT_REFRESH, ConnectorApp
from .client import DEFAULT_URL, StatusClient


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tui", description=__doc__)
    parser.add_argument("--url", default=DEFAULT_URL, help="the connector's HTTP API (http://HOST:PORT)")
    parser.add_argument("--token", default=os.environ.get("ESL_CONNECTOR_API_TOKEN") or None,
                        help="http.api_token (default: $ESL_CONNECTOR_API_TOKEN)")
    parser.add_argument("--refresh", type=float, default=DEFAULT_REFRESH, help="seconds between refreshes")
    parser.add_argument("--light", action="store_true", help="start in the light theme (t switches)")
    args = parser.parse_args(argv)
    try:
        source = StatusClient(args.url, args.token)
    except ValueError as exc:
        parser.error(str(exc))
    ConnectorApp(source, refresh=args.refresh, theme="textual-light" if args.light else "textual-dark").run()


if __name__ == "__main__":
    main()
