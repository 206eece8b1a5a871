"""A DataTable refreshed in place: at each poll the cells that changed are
updated where they are (no flicker) and the cursor stays on the same row (by
key), so the operator's selection survives. It filters its rows (``filter``,
the screen's ``/``) and sorts them by a column (a click on the header, or
``o`` for the next column and ``O`` to reverse)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from ..table_view import arrange

ASCENDING, DESCENDING = " ▲", " ▼"


class LiveTable(DataTable):
    BINDINGS = [Binding("o", "sort_next", "Sort", show=False), Binding("O", "sort_reverse", "Reverse", show=False)]

    def __init__(self, columns: Sequence[str], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._labels = list(columns)
        self._column_keys: list = []
        self._rows: list[tuple[str, Sequence]] = []
        self._shown: dict[str, list] = {}
        self.filter = ""
        self.sort_column: int | None = None
        self.sort_reverse = False

    def on_mount(self) -> None:
        self._column_keys = self.add_columns(*[label + "  " for label in self._labels])

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor; None when the table is empty."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    @property
    def shown_keys(self) -> list[str]:
        return list(self._shown)

    def set_columns(self, columns: Sequence[str]) -> None:
        """Show these columns instead (rows must then have as many cells)."""
        if list(columns) == self._labels:
            return
        self._labels = list(columns)
        self.sort_column = None
        if self._column_keys:
            self.clear(columns=True)
            self._shown = {}
            self._column_keys = self.add_columns(*[label + "  " for label in self._labels])

    def set_rows(self, rows: Iterable[tuple[str, Sequence]]) -> None:
        """Replace every row; ``rows`` are (key, cells)."""
        self._rows = list(rows)
        self._redraw()

    def set_filter(self, text: str) -> None:
        self.filter = text.strip()
        self._redraw()

    def sort_by(self, column: int | None, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        for index, key in enumerate(self._column_keys):
            mark = (DESCENDING if reverse else ASCENDING) if index == column else "  "
            self.columns[key].label = Text(self._labels[index] + mark)
        self._redraw(force=True)

    def action_sort_next(self) -> None:
        column = -1 if self.sort_column is None else self.sort_column
        self.sort_by((column + 1) % len(self._labels), self.sort_reverse)

    def action_sort_reverse(self) -> None:
        self.sort_by(self.sort_column or 0, not self.sort_reverse)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        same = event.column_index == self.sort_column
        self.sort_by(event.column_index, not self.sort_reverse if same else False)

    def _redraw(self, force: bool = False) -> None:
        if not self._column_keys:
            return
        shown = arrange(self._rows, self.filter, self.sort_column, self.sort_reverse)
        if not force and [key for key, _ in shown] == list(self._shown):
            self._update_in_place(shown)
            return
        keep = self.selected_key
        self.clear()
        self._shown = {}
        for key, cells in shown:
            self.add_row(*cells, key=key)
            self._shown[key] = list(cells)
        if keep is not None and self.row_count:
            try:
                self.move_cursor(row=self.get_row_index(keep), animate=False, scroll=False)
            except RowDoesNotExist:  # the row is gone or filtered out: the cursor stays where it was
                pass

    def _update_in_place(self, shown: list[tuple[str, Sequence]]) -> None:
        for key, cells in shown:
            before = self._shown[key]
            for index, cell in enumerate(cells):
                if index >= len(before) or before[index] != cell:
                    self.update_cell(key, self._column_keys[index], cell, update_width=True)
            self._shown[key] = list(cells)
