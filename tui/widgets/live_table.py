"""A DataTable refreshed in place: rows are replaced at each poll while the
cursor stays on the same row (by key), so the operator's selection survives."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.widgets import DataTable


class LiveTable(DataTable):
    def __init__(self, columns: Sequence[str], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._columns = list(columns)

    def on_mount(self) -> None:
        self.add_columns(*self._columns)

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor; None when the table is empty."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def set_rows(self, rows: Iterable[tuple[str, Sequence]]) -> None:
        """Replace every row; ``rows`` are (key, cells)."""
        keep = self.selected_key
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if keep is not None and self.row_count:
            try:
                self.move_cursor(row=self.get_row_index(keep), animate=False, scroll=False)
            except Exception:  # the row is gone (RowDoesNotExist): the cursor stays where it was
                pass
