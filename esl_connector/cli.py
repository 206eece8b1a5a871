"""``esl-connector``: run the connector, check its configuration, run the
built-in FreeSWITCH simulator, run everything together as a demo, or watch a
running connector in the terminal UI."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from . import __version__
from .settings.config import ConfigError, Settings, load_settings, parse_extension_range

log = logging.getLogger("esl_connector")
CONFIG_HELP = "TOML configuration file (see conf/esl-connector.toml)."


def setup_logging(level: str, filename: str | None = None, settings: Settings | None = None):
    """To stderr, or to ``filename`` (while the TUI owns the terminal); with
    ``settings``, in its ``[logging] format`` and with its secrets redacted."""
    from .logs import configure, secret_values
    if settings is None:
        return configure(level, filename=filename)
    from .settings.customer_config import parse_customers
    return configure(level, settings.logging.format, secret_values(settings, parse_customers(settings.customers)),
                     filename)


def load_or_exit(path: str | None) -> Settings:
    """Settings, or one clear line on stderr and exit status 2."""
    try:
        return load_settings(path)
    except ConfigError as exc:
        click.echo(f"esl-connector: configuration error: {exc}", err=True)
        sys.exit(2)


def run_until_signalled(stop, failed=None, reload=None):
    """Block the main greenlet until SIGTERM/SIGINT (or ``failed``, an Event,
    is set), then return ``stop()``. SIGHUP runs ``reload`` in its own greenlet."""
    import signal

    import gevent
    from gevent.event import Event

    done = Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, done.set)
    if reload is not None:
        gevent.signal_handler(signal.SIGHUP, lambda: gevent.spawn(reload))
    gevent.wait([done] + ([failed] if failed is not None else []), count=1)
    log.info("%s, stopping", "signal received" if done.is_set() else "fatal failure")
    return stop()


@click.group()
@click.version_option(__version__, prog_name="esl-connector")
def main() -> None:
    """FreeSWITCH -> CRM connector (incoming/outgoing call events, call logs)."""


@main.command()
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), required=True, help=CONFIG_HELP)
def run(config_path: str) -> None:
    """Run the connector against FreeSWITCH."""
    from gevent import monkey
    monkey.patch_all()
    settings = load_or_exit(config_path)
    logs = setup_logging(settings.logging.level, settings=settings)
    from storage import StorageError

    from .api.recordings import RecordingError
    from .app import Connector
    try:
        connector = Connector(settings).start()
    except (StorageError, RecordingError, ConfigError) as exc:
        click.echo(f"esl-connector: cannot start: {exc}", err=True)
        sys.exit(3)
    except OSError as exc:  # the HTTP port is taken, or not ours to bind
        click.echo(f"esl-connector: cannot listen on {settings.http.host}:{settings.http.port} "
                   f"(http.host/http.port): {exc.strerror or exc}", err=True)
        sys.exit(3)
    reloader = connector.enable_reload(config_path, logs)
    committed = run_until_signalled(connector.stop, connector.failed, reloader.reload)
    if connector.failed.is_set():
        click.echo(f"esl-connector: stopped after a fatal failure: {connector.failure}", err=True)
        sys.exit(4)
    if not committed:
        # Changes not committed are lost from this process; the next start takes
        # up the last commit and FreeSWITCH's live state (see docs/storage.md).
        sys.exit(1)


@main.command("check-config")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), required=True, help=CONFIG_HELP)
def check_config(config_path: str) -> None:
    """Validate a configuration file and print every problem found."""
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        click.echo(f"{exc.source or config_path}: {len(exc.problems)} problem(s)", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    nodes = ", ".join(f"{fs.node} {fs.host}:{fs.port}" for fs in settings.node_settings())
    click.echo(f"{config_path}: OK (FreeSWITCH {nodes}, events {settings.freeswitch.event_format}, "
               f"storage {settings.storage.url.split('@')[-1]})")


@main.command()
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)
@click.option("--host", help="Address to listen on (default from [simulator], 127.0.0.1).")
@click.option("--port", type=int, help="Event Socket port (default from [simulator], 8021).")
@click.option("--password", help="Event Socket password (default ClueCon).")
@click.option("--extensions", help="Extensions that register, e.g. 101-150,200.")
@click.option("--calls-per-second", type=float, default=0.0, show_default=True,
              help="Random call traffic to generate (0: none, script it or dial via originate).")
@click.option("--speed", type=float, help="Time factor: 1 = real time, 10 = ten times faster.")
@click.option("--seed", type=int, help="Random seed for reproducible traffic.")
@click.option("--cdr-dir", type=click.Path(file_okay=False),
              help="Write each leg's CDR here, as mod_json_cdr's log-dir.")
@click.option("--cdr-url", help="POST each leg's CDR here, as mod_json_cdr's url (e.g. .../api/v1/cdr).")
@click.option("--cdr-cred", default="", help="user:password for --cdr-url (HTTP Basic, as mod_json_cdr's cred).")
@click.option("--switchname", help="The FreeSWITCH-Switchname (and hostname) it reports (default: this host's "
              "name); give each simulator of a cluster its own (docs/nodes.md).")
def simulate(config_path, host, port, password, extensions, calls_per_second, speed, seed,
             cdr_dir, cdr_url, cdr_cred, switchname) -> None:
    """Run the built-in FreeSWITCH simulator (an Event Socket server with a
    simulated PBX), for demos and for CRM development without a PBX."""
    from gevent import monkey
    monkey.patch_all()
    settings = load_or_exit(config_path)
    setup_logging(settings.logging.level, settings=settings)
    sim_cfg = settings.simulator
    try:
        numbers = parse_extension_range(extensions or sim_cfg.extensions)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--extensions") from None
    import gevent

    from .simulator import Simulator, run_traffic
    sim = Simulator(host=host or sim_cfg.host, port=sim_cfg.port if port is None else port,
                    password=password or sim_cfg.password, speed=speed or sim_cfg.speed,
                    extensions=numbers, heartbeat_interval=sim_cfg.heartbeat_interval,
                    hostname=switchname or None).start()
    sim.pbx.register_all()
    _cdr_outputs(sim.pbx, cdr_dir, cdr_url, cdr_cred)
    bound_host, bound_port = sim.address
    click.echo(f"FreeSWITCH simulator {sim.pbx.hostname} listening on {bound_host}:{bound_port} "
               f"({len(numbers)} extensions registered: {numbers[0]}..{numbers[-1]})")
    if calls_per_second > 0:
        gevent.spawn(run_traffic, sim.pbx, calls_per_second, numbers, None, seed)
    run_until_signalled(sim.stop)


def _cdr_outputs(pbx, directory: str | None, url: str | None, cred: str) -> None:
    from .simulator.cdr import CdrFiles, CdrPoster
    if directory:
        pbx.add_cdr_output(CdrFiles(directory))
    if url:
        user, _, secret = cred.partition(":")
        pbx.add_cdr_output(CdrPoster(url, user, secret, err_dir=directory))


@main.command()
@click.option("--calls-per-second", type=float, default=0.3, show_default=True)
@click.option("--speed", type=float, default=1.0, show_default=True)
@click.option("--extensions", default="101-105", show_default=True)
@click.option("--database", default="var/demo.db", show_default=True, type=click.Path(dir_okay=False))
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--no-tui", is_flag=True, help="Print one line per webhook even on a terminal.")
@click.option("--nodes", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Simulated FreeSWITCH nodes (pbx1, pbx2...), each with the extensions (docs/nodes.md).")
@click.option("--seed", type=int, help="Random seed: the same calls in the same order on every run.")
def demo(calls_per_second, speed, extensions, database, duration, no_tui, nodes, seed) -> None:
    """Everything on this machine: the FreeSWITCH simulator, the connector,
    and local CRM receivers (one of them flaky). On a terminal, the TUI shows
    it (quit it to stop the demo); otherwise one line per webhook received."""
    from gevent import monkey
    monkey.patch_all()
    from .demo import run_demo
    try:
        numbers = parse_extension_range(extensions)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--extensions") from None
    db_path = Path(database).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    tui = not no_tui and sys.stdin.isatty() and sys.stdout.isatty()
    log_file = str(db_path.with_suffix(".log")) if tui else None
    setup_logging("WARNING", log_file)
    sys.exit(run_demo(numbers, calls_per_second, speed, db_path, duration, echo=click.echo, tui=tui, nodes=nodes,
                      seed=seed, log_file=log_file))


@main.command()
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False),
              help="The connector's configuration: its [http] host, port and api_token.")
@click.option("--url", help="The connector's HTTP API, http(s)://HOST:PORT (default http://127.0.0.1:8080).")
@click.option("--token", envvar="ESL_CONNECTOR_API_TOKEN", help="http.api_token (or $ESL_CONNECTOR_API_TOKEN).")
@click.option("--refresh", type=float, default=1.0, show_default=True, help="Seconds between refreshes.")
@click.option("--light", is_flag=True, help="Start in the light theme (t switches).")
def tui(config_path, url, token, refresh, light) -> None:
    """The terminal UI: extensions, calls, deliveries and health of a running
    connector, through its status API."""
    if config_path and url:
        raise click.UsageError("give -c FILE or --url, not both")
    if config_path:
        settings = load_or_exit(config_path)
        url, token = api_url(settings.http), token or settings.http.api_token or None
    from tui.app import ConnectorApp
    from tui.client import DEFAULT_URL, StatusClient
    try:
        source = StatusClient(url or DEFAULT_URL, token)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None
    ConnectorApp(source, refresh=refresh, theme="textual-light" if light else "textual-dark").run()


@main.command()
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), required=True, help=CONFIG_HELP)
def reload(config_path: str) -> None:
    """Make the running connector read its configuration again (as SIGHUP):
    customers, [delivery] and [logging] change live; prints what changed.
    The file is checked here first: with a problem, the connector is not asked."""
    import requests
    settings = load_or_exit(config_path)
    token, url = settings.http.api_token, api_url(settings.http)
    local = url.split("://")[1].startswith(("127.", "[::1]", "localhost"))  # the local server's own certificate
    if local:
        requests.packages.urllib3.disable_warnings()
    try:
        answer = requests.post(url + "/api/v1/admin/reload", timeout=90, verify=not local,
                               headers={"Authorization": f"Bearer {token}"} if token else {})
        data = answer.json()
    except (requests.RequestException, ValueError) as exc:
        click.echo(f"esl-connector: no answer from the connector at {url}: {exc}", err=True)
        sys.exit(3)
    if answer.status_code != 200:
        click.echo(f"esl-connector: reload refused: {data.get('message', answer.status_code)}", err=True)
        for problem in data.get("problems", []):
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    for label, key in (("customers added", "customers_added"), ("customers removed", "customers_removed"),
                       ("customers changed", "customers_changed"), ("settings changed", "changed"),
                       ("need a restart", "needs_restart")):
        click.echo(f"{label + ':':<19}{', '.join(data.get(key) or []) or '-'}")


def api_url(http) -> str:
    """Where a local client reaches the HTTP server of ``[http]``."""
    host = http.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1" if host != "::" else "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if http.tls_cert else 'http'}://{host}:{http.port}"


# -- esl-connector deliveries: the outbox, its attempts, replays ---------------

def _delivery_db(config_path: str):
    from storage import StorageError, migrate, open_database
    settings = load_or_exit(config_path)
    try:
        db = open_database(settings.storage.url)
        migrate(db)
    except StorageError as exc:
        click.echo(f"esl-connector: storage error: {exc}", err=True)
        sys.exit(3)
    return db


def _when(epoch: float | None) -> str:
    import time
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch)) if epoch else "-"


@main.group()
def deliveries() -> None:
    """Inspect and replay CRM deliveries (the outbox and its attempts)."""


@deliveries.command("list")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), required=True, help=CONFIG_HELP)
@click.option("--status", type=click.Choice(["pending", "retrying", "delivered", "dead", "skipped", "expired"]))
@click.option("--customer", help="Customer code.")
@click.option("--callid", help="One call's events.")
@click.option("--limit", type=int, default=50, show_default=True)
def deliveries_list(config_path, status, customer, callid, limit) -> None:
    """Outbox rows, newest first."""
    from .delivery.admin import list_deliveries
    rows = list_deliveries(_delivery_db(config_path), status=status, customer=customer,
                           callid=callid, limit=limit)
    click.echo(f"{'ID':>7}  {'STATUS':<9} {'TRIES':>5}  {'EVENT':<13} {'CUSTOMER':<10} "
               f"{'EXTENSION':<16} {'CREATED':<19}  CALL / LAST ERROR")
    for r in rows:
        click.echo(f"{r.id:>7}  {r.status:<9} {r.attempts:>5}  {r.event_type:<13} "
                   f"{r.customer or '-':<10} {r.extension + '@' + r.domain:<16} "
                   f"{_when(r.created_at):<19}  {r.callid}" + (f"  {r.last_error}" if r.last_error else ""))


@deliveries.command("show")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), required=True, help=CONFIG_HELP)
@click.option("--body-lines", type=click.IntRange(min=0), default=40, show_default=True,
              help="Lines of each request body shown (0: all that is stored).")
@click.argument("key")
def deliveries_show(config_path, body_lines, key) -> None:
    """One row (by id or event id) with every attempt: the request as it went
    out (method, URL, headers, body; secrets as ***) and the answer."""
    from .cli_show import delivery_lines
    from .delivery.admin import get_delivery
    detail = get_delivery(_delivery_db(config_path), key)
    if detail is None:
        click.echo(f"esl-connector: no outbox row {key}", err=True)
        sys.exit(1)
    click.echo("\n".join(delivery_lines(detail, body_lines)))


@deliveries.command("retry")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), required=True, help=CONFIG_HELP)
@click.option("--all-dead", is_flag=True, help="Replay every dead letter of --customer.")
@click.option("--since", help="With --customer: replay what failed from then on, dead letters included "
                              "(epoch seconds, 2026-11-27T10:30, or a time ago: 30m, 2h, 1d).")
@click.option("--customer", help="Customer code (with --all-dead or --since).")
@click.argument("key", required=False)
def deliveries_retry(config_path, all_dead, since, customer, key) -> None:
    """Send a row again (by id or event id), every dead letter of a customer,
    or what failed for a customer since a time. The running connector picks
    replayed rows up within its poll interval."""
    import time

    from .delivery.admin import DeliveryAdminError, parse_since, retry, retry_all_dead, retry_since
    if (all_dead or since) == bool(key) or ((all_dead or since) and not customer) or (all_dead and since):
        raise click.UsageError("give an outbox id, or --all-dead --customer CODE, or --since T --customer CODE")
    db = _delivery_db(config_path)
    if since:
        try:
            start = parse_since(since, time.time())
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
        replayed, due = retry_since(db, customer, start, time.time())
        click.echo(f"{customer}: {replayed} dead deliveries replayed and {due} retrying ones made due, "
                   f"of those failed since {_when(start)}")
        return
    if all_dead:
        click.echo(f"{retry_all_dead(db, customer, time.time())} dead deliveries of "
                   f"{customer} queued again")
        return
    try:
        row = retry(db, key, time.time())
    except DeliveryAdminError as exc:
        click.echo(f"esl-connector: {exc}", err=True)
        sys.exit(1)
    click.echo(f"outbox row {row.id} ({row.event_type}, call {row.callid}) is {row.status}, "
               f"due now")


@main.command("forget-node")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False), required=True, help=CONFIG_HELP)
@click.argument("node")
def forget_node(config_path, node) -> None:
    """Take a FreeSWITCH node removed or renamed in the configuration out of
    the database: its extensions' presence is deleted and its calls stored as
    in progress are closed (lost track, without a call log). Its calls' history
    stays. Refused for a node the configuration still has (docs/nodes.md)."""
    import time

    from storage.recovery import forget_node as forget

    from .calls.call_tracker import LOST_TRACK_CAUSE
    settings = load_or_exit(config_path)
    if node in [fs.node for fs in settings.node_settings()]:
        click.echo(f"esl-connector: node {node!r} is in {config_path}; remove or rename it there first",
                   err=True)
        sys.exit(2)
    extensions, calls = forget(_delivery_db(config_path), node, time.time(), LOST_TRACK_CAUSE)
    click.echo(f"node {node}: {extensions} extensions forgotten, {calls} calls in progress closed")

if __name__ == "__main__":
    main()
