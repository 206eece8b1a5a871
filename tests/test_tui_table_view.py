"""The TUI's pure parts: what a table shows (filter, sort) and when to ask
the connector again after failures."""

from rich.text import Text

from tui.backoff import Backoff
from tui.table_view import arrange, matches, sort_value

ROWS = [("a", ["101", Text("idle"), "2m05s", "85.7%", "acme"]),
        ("b", ["102", Text("ringing"), "59s", "-", "acme"]),
        ("c", ["103", Text("in_call"), "1h02m", "100.0%", "globex"]),
        ("d", ["104", Text("offline"), "-", "33.3%", "globex"])]


def test_the_filter_finds_every_word_in_any_cell_whatever_the_case():
    assert matches(ROWS[0][1], "") and matches(ROWS[0][1], "ACME idle")
    assert not matches(ROWS[0][1], "acme ringing")
    assert [k for k, _ in arrange(ROWS, "globex")] == ["c", "d"]
    assert [k for k, _ in arrange(ROWS, "  ")] == ["a", "b", "c", "d"]


def test_sorting_orders_durations_and_percentages_by_value_and_keeps_blanks_last():
    assert sort_value("2m05s") > sort_value("59s") and sort_value("1h02m") > sort_value("2m05s")
    assert sort_value("100.0%") > sort_value("85.7%") and sort_value("1,234") > sort_value("99")
    assert sort_value("12.5 ms") < sort_value("120.0 ms") and sort_value("3s ago") < sort_value("1m00s ago")
    assert [k for k, _ in arrange(ROWS, column=2)] == ["b", "a", "c", "d"]
    assert [k for k, _ in arrange(ROWS, column=2, reverse=True)] == ["c", "a", "b", "d"]
    assert [k for k, _ in arrange(ROWS, column=3, reverse=True)] == ["c", "a", "d", "b"]
    assert [k for k, _ in arrange(ROWS, "acme", column=1)] == ["a", "b"]


def test_backoff_doubles_up_to_the_ceiling_and_resets_at_the_first_answer():
    backoff = Backoff(base=1.0, ceiling=8.0)
    assert backoff.due(0.0)
    assert [backoff.failed(100.0) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert not backoff.due(107.9) and backoff.due(108.0) and backoff.wait(105.0) == 3.0
    backoff.succeeded()
    assert backoff.due(0.0) and backoff.failures == 0 and backoff.failed(10.0) == 1.0
