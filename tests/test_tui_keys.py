"""Keys that need no connector (fixed data, tests/tui_fake_source.py): the
theme, the keys screen, the command palette, the cursor across refreshes
while rows come and go and change, a narrow terminal's dashboard."""

import copy
import time

from textual.command import CommandPalette

from tui.app import ConnectorApp
from tui.screens.help import HelpScreen

from tui_fake_source import EXTENSIONS, NOW, FakeSource
from tui_harness import rows, synchronous, wait_for


class ChangingSource(FakeSource):
    """Extensions whose order, states and set change at every answer."""

    def __init__(self):
        self.answers = 0

    async def extensions(self):
        self.answers += 1
        exts = copy.deepcopy(EXTENSIONS)[::-1 if self.answers % 2 else 1]
        for e in exts:
            e["state"] = ("idle", "ringing", "in_call")[(self.answers + int(e["extension"])) % 3]
        return [e for e in exts if e["extension"] != "104" or self.answers % 3]


def app(source=None, mode="extensions", refresh=0.05):
    return ConnectorApp(source or FakeSource(), refresh=refresh, clock=lambda: NOW, start_mode=mode)


async def loaded(pilot, at_least=1):
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "loads", 0) >= at_least, what="data")
    return pilot.app.screen


@synchronous
async def test_t_and_the_palette_switch_light_and_dark_and_the_screens():
    a = app(refresh=0)
    async with a.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        assert a.theme == "textual-dark"
        await pilot.press("t")
        assert a.theme == "textual-light"
        titles = [c.title for c in a.get_system_commands(a.screen)]
        assert {"Show Deliveries", "Light / dark", "Keys", "Refresh now"} <= set(titles)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(a.screen, CommandPalette), what="the palette")
        await pilot.press(*"Show Deliv")
        first = lambda: str(a.screen.query_one("CommandList").get_option_at_index(0).prompt)  # noqa: E731
        await wait_for(pilot, lambda: "Show Deliveries" in first(), what="the command found")
        await pilot.press("enter")
        await wait_for(pilot, lambda: a.current_mode == "deliveries", what="the deliveries, from the palette")


@synchronous
async def test_question_mark_shows_every_key_and_escape_closes_it():
    a = app(refresh=0)
    async with a.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(a.screen, HelpScreen), what="the keys")
        await pilot.press("escape")
        await wait_for(pilot, lambda: a.screen is screen, what="back")


@synchronous
async def test_the_cursor_stays_on_its_row_while_rows_move_change_and_go():
    source = ChangingSource()
    a = app(source)
    async with a.run_test(size=(120, 30)) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#extensions-table")
        table.focus()
        table.move_cursor(row=table.get_row_index("102@pbx.example.vn"))
        seen = set()
        deadline = time.monotonic() + 30
        # each load seen (loads can come two at a time on a loaded machine: the same order
        # again), until the order and the state have both changed under the cursor
        while len({order for order, _ in seen}) < 2 or len({state for _, state in seen}) < 2:
            assert time.monotonic() < deadline, seen
            await loaded(pilot, screen.loads + 1)
            assert table.selected_key == "102@pbx.example.vn"
            seen.add((tuple(rows(table)), rows(table)["102@pbx.example.vn"][2]))


@synchronous
async def test_a_narrow_dashboard_keeps_the_freeswitch_deliveries_and_extensions_cards():
    a = app(mode="dashboard", refresh=0)
    async with a.run_test(size=(80, 24)) as pilot:
        screen = await loaded(pilot)
        assert not screen.query_one("#card-connector").display
        assert all(screen.query_one(f"#card-{c}").region.width > 20 for c in ("freeswitch", "delivery", "extensions"))
        await pilot.resize_terminal(150, 40)
        await wait_for(pilot, lambda: screen.query_one("#card-connector").display, what="the 4th card, wide")


@synchronous
async def test_an_answer_not_understood_is_a_banner_not_a_traceback():
    import httpx

    from tui.client import StatusClient
    from tui.widgets.banner import Banner
    weird = httpx.MockTransport(lambda request: httpx.Response(200, json={"what": ["is", "this"]}))
    a = ConnectorApp(StatusClient("http://pbx:8080", transport=weird), refresh=0.05, start_mode="extensions")
    async with a.run_test(size=(80, 24)) as pilot:
        banner = a.screen.query_one(Banner)
        await wait_for(pilot, lambda: "not understood" in banner.text, what="the banner")
        await pilot.press("3")  # still running, other screens too
        await wait_for(pilot, lambda: a.current_mode == "calls" and "not understood" in a.screen.query_one(
            Banner).text, what="the calls screen says the same")


@synchronous
async def test_a_click_on_a_header_sorts_by_that_column_and_a_second_click_reverses():
    a = app(refresh=0)
    async with a.run_test(size=(120, 30)) as pilot:
        screen = await loaded(pilot)
        table = screen.query_one("#extensions-table")
        today = list(table.columns.values())[6]  # "Today"
        x = sum(c.get_render_width(table) for c in list(table.columns.values())[:6]) + 1
        await pilot.click(table, offset=(x, 0))
        await wait_for(pilot, lambda: table.sort_column == 6, what="sorted by Today")
        assert [r[6] for r in rows(table).values()] == ["0", "3", "7", "9", "14", "21"]  # by value, not text
        assert str(today.label).startswith("Today ▲")
        await pilot.click(table, offset=(x, 0))
        await wait_for(pilot, lambda: table.sort_reverse, what="reversed")
        assert [int(r[6]) for r in rows(table).values()] == sorted((int(r[6]) for r in rows(table).values()),
                                                                   reverse=True)
