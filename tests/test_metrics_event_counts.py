"""Events counted per node and name in plain ints read at scrape time expose
exactly what a prometheus_client ``Counter`` fed the same events exposes."""

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import generate_latest

from esl_connector.api.metrics import ConnectorMetrics
from esl_connector.esl.protocol import Event

from recordings import events


def lines(exposition: bytes, family: str) -> list[str]:
    """The family's lines, without the values of its ``_created`` samples (times)."""
    found = []
    for line in exposition.decode().splitlines():
        if family in line:
            found.append(line.rsplit(" ", 1)[0] if "_created{" in line else line)
    return found


def test_counts_expose_like_a_prometheus_counter():
    stream = [(node, e) for node in ("n1", "n2") for e in events("inbound_answered", "json")]
    stream += [("n1", e) for e in events("register_unregister", "json")]
    stream += [("n2", Event({"Event-Name": ""})), ("n2", Event({"Event-Name": "CUSTOM"}))]
    metrics = ConnectorMetrics(node="n1")
    registry = CollectorRegistry()
    reference = Counter("esl_connector_esl_events", "Event Socket events received, by node and event name",
                        ("node", "event"), registry=registry)
    for node, event in stream:
        metrics.event_received(event, None if node == "n1" else node)
        name = event.name if event.name != "CUSTOM" else event.subclass or event.name
        reference.labels(node, name or "unknown").inc()
    ours = lines(metrics.exposition()[0], "esl_connector_esl_events")
    assert ours == lines(generate_latest(registry), "esl_connector_esl_events")
    assert 'esl_connector_esl_events_total{event="sofia::register",node="n1"}' in "\n".join(ours)
    assert 'esl_connector_esl_events_total{event="unknown",node="n2"} 1.0' in ours
    assert 'esl_connector_esl_events_total{event="CUSTOM",node="n2"} 1.0' in ours
    assert sum('_created{' in line for line in ours) == sum('_total{' in line for line in ours)
