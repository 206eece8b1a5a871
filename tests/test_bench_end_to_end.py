"""The end-to-end benchmark's instrument keeps working: its three processes
(load source, ``esl-connector run``, CRM receiver) for 2 s at 5 calls/s, and
every call's two webhooks arrive. No timing is asserted."""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_end_to_end.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_end_to_end", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_end_to_end", module)
    spec.loader.exec_module(module)
    return module


def test_every_call_of_a_short_low_rate_run_reaches_the_crm():
    bench = load_bench()
    result = bench.run_once(bench.Options(rate=5, seconds=2, poll=0.5, drain=30, quiet=True))
    assert result["calls"] == 10 and result["events"] == 10 * 16
    assert result["expected"] == 20
    assert result["delivered"] == 20, result["outbox"]
    assert result["duplicates"] == 0 and result["unknown"] == 0
    for kind in ("incoming_call", "call_answered"):
        assert result["latency_ms"][kind]["n"] == 10
    assert result["peak_rss_mib"] > 0 and result["cpu_s"] > 0


def test_two_connectors_on_postgresql_deliver_every_call_once(postgres_server):
    """``--database postgresql://... --connectors 2``: a fresh database on the
    server, the second process delivering beside the ingesting one."""
    bench = load_bench()
    result = bench.run_once(bench.Options(rate=5, seconds=2, poll=0.5, drain=30, quiet=True,
                                          database=postgres_server.url, connectors=2))
    assert result["database"] == "postgresql"
    assert result["delivered"] == 20 and result["duplicates"] == 0, result["outbox"]
    assert sum(result["delivered_by"]) == 20 and result["second_cpu_s"] > 0
