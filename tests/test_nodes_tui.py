"""The TUI with two FreeSWITCH nodes (a real connector in a subprocess,
tests/nodes_backend.py, read over HTTP under Textual's Pilot): the header
shows each node's connection, the extension and call tables a Node column,
at 80x24 too."""

import json
import subprocess
import sys

import pytest

from tui.app import ConnectorApp
from tui.client import StatusClient
from tui.screens.calls import CallsScreen
from tui.screens.extensions import ExtensionsScreen
from tui.widgets.info_panel import InfoPanel
from tui.widgets.status_bar import StatusBar

from tui_harness import HERE, rows, synchronous, wait_for


@pytest.fixture
def backend(tmp_path):
    process = subprocess.Popen([sys.executable, str(HERE / "nodes_backend.py"), str(tmp_path / "nodes.db")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE)
    line = process.stdout.readline()
    assert line, f"the nodes backend did not start (exit status {process.poll()})"
    info = json.loads(line)

    def command(**fields):
        process.stdin.write(json.dumps(fields) + "\n")
        process.stdin.flush()

    yield info, command
    process.terminate()
    process.wait(timeout=10)


def make_app(info, mode):
    return ConnectorApp(StatusClient(info["api"], info["token"]), refresh=0.2, start_mode=mode)


@synchronous
async def test_the_header_and_the_extensions_show_each_node(backend):
    info, command = backend
    async with make_app(info, "extensions").run_test(size=(80, 24)) as pilot:
        app = pilot.app
        bar = app.screen.query_one(StatusBar)
        await wait_for(pilot, lambda: "FreeSWITCH 2/2 a● b●" in getattr(bar, "text", ""), what="both nodes up")
        await wait_for(pilot, lambda: isinstance(app.screen, ExtensionsScreen) and app.screen.loads,
                       what="the extensions")
        table = app.screen.query_one("#extensions-table")
        await wait_for(pilot, lambda: len(rows(table)) == 3, what="three extension rows")
        shown = rows(table)
        assert [str(c.label).strip() for c in table.columns.values()][:3] == ["Ext", "Node", "Customer"]
        assert sorted((cells[0], cells[1]) for cells in shown.values()) == [("101", "a"), ("101", "b"),
                                                                           ("102", "a")]
        command(do="stop", node="b")
        await wait_for(pilot, lambda: "FreeSWITCH 1/2 a● b✕" in bar.text, what="b shown down")
        assert "degraded" in bar.text


@synchronous
async def test_the_calls_show_the_node_they_are_on(backend):
    info, command = backend
    command(do="call", node="b", ring="101")
    async with make_app(info, "calls").run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, CallsScreen) and app.screen.loads, what="calls")
        table = app.screen.query_one("#calls-table")
        await wait_for(pilot, lambda: any(cells[2] == "b" for cells in rows(table).values()), timeout=30,
                       what="the call on node b")
        assert [str(c.label).strip() for c in table.columns.values()][:4] == ["Started", "Call", "Node",
                                                                              "Direction"]


@synchronous
async def test_the_dashboard_has_a_line_per_node(backend):
    info, command = backend
    async with make_app(info, "dashboard").run_test(size=(150, 45)) as pilot:
        app = pilot.app
        await wait_for(pilot, lambda: getattr(app.screen, "loads", 0), what="the dashboard")
        card = app.screen.query_one("#card-freeswitch", InfoPanel)
        await wait_for(pilot, lambda: "2/2 connected" in card.text, what="both nodes in the card")
        assert "up · sw-a" in card.text and "up · sw-b" in card.text
        command(do="stop", node="b")
        await wait_for(pilot, lambda: "1/2 connected" in card.text and "b: down" in card.text,
                       what="b down in the card")
