"""The end-to-end benchmark's CRM: a gevent WSGI server (TCP_NODELAY, keep-alive)
that notes, for every webhook, its customer, kind, callid, X-Event-Id and
arrival time (``time.time()``).

* ``--delay S``: answer every request S seconds late (a slow CRM);
* ``--fail CODE``: answer 503 to that customer's requests (a CRM that is down
  but reachable; a CRM that refuses connections is simply a port nobody
  listens on, chosen by the driver).

Control through pipes: prints ``{"event": "ready", "port": N}``; ``GET /__count``
answers the counts so far (cheap, for polling); a line ``dump PATH`` on stdin
writes every request noted to PATH as JSON and prints ``{"event": "dumped"}``;
EOF on stdin ends it.

    python bench/e2e_receiver.py --delay 0.2
"""

from gevent import monkey

monkey.patch_all()

import argparse
import json
import socket
import sys
import time
from urllib.parse import parse_qs

import gevent
from gevent.pywsgi import WSGIServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--fail", action="append", default=[], help="customer code answered 503")
    args = parser.parse_args()
    records: list[list] = []       # [arrival, customer, kind, callid, event_id, status]
    counts: dict[str, int] = {}
    connections: set = set()
    failing = set(args.fail)

    def app(environ, start_response):
        arrival = time.time()
        path = environ["PATH_INFO"]
        if path == "/__count":
            body = json.dumps({"counts": counts, "connections": len(connections), "requests": len(records)}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        parts = path.strip("/").split("/")  # wsapi/{customer}/{event}
        customer, kind = (parts[1], parts[2]) if len(parts) >= 3 else ("", path)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        callid = ""
        if raw:
            try:
                callid = json.loads(raw).get("callid", "")
            except (ValueError, AttributeError):
                pass
        else:
            callid = parse_qs(environ.get("QUERY_STRING", "")).get("callid", [""])[0]
        connections.add((environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")))
        status = 503 if customer in failing else 200
        records.append([arrival, customer, kind, callid, environ.get("HTTP_X_EVENT_ID", ""), status])
        key = f"{customer}/{kind}/{status}"
        counts[key] = counts.get(key, 0) + 1
        if args.delay:
            gevent.sleep(args.delay)
        body = b'{"status":"success"}' if status == 200 else b'{"status":"unavailable"}'
        start_response("200 OK" if status == 200 else "503 Service Unavailable",
                       [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    class NoDelay(WSGIServer):
        def handle(self, sock, address):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return super().handle(sock, address)

    server = NoDelay(("127.0.0.1", 0), app, log=None, error_log=None)
    server.start()
    print(json.dumps({"event": "ready", "port": server.server_port}), flush=True)
    stdin = gevent.get_hub().threadpool
    while True:
        line = stdin.spawn(sys.stdin.readline).get()
        if not line:
            break
        if line.startswith("dump "):
            with open(line[5:].strip(), "w") as f:
                json.dump(records, f)
            print(json.dumps({"event": "dumped", "requests": len(records)}), flush=True)
    server.stop(timeout=1)


if __name__ == "__main__":
    main()
