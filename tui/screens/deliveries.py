"""Deliveries: per customer and each of its CRM endpoints, then the outbox itself.

s cycles the status filter (dead letters first), r sends the selected row
again, R replays every dead letter of the selected customer (after a yes),
enter opens a row with its attempts."""

from __future__ import annotations

import asyncio

from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from .. import delivery_rows
from ..client import SourceError
from ..formatting import clock_time, short_id, styled
from ..messages import OpenDelivery
from ..widgets.live_table import LiveTable
from .base import LiveScreen
from .confirm import ConfirmScreen

FILTERS = (None, "dead", "retrying", "pending", "delivered", "skipped")
ROW_COLUMNS = ["ID", "Status", "Tries", "Event", "Customer", "Extension", "Call", "Created", "Endpoint",
               "Last error"]


class DeliveriesScreen(LiveScreen):
    BINDINGS = [("s", "cycle_filter", "Status"), ("r", "retry", "Retry"), ("R", "retry_dead", "Retry dead")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.status_filter: str | None = None
        self._rows: dict[str, dict] = {}

    def compose_body(self) -> ComposeResult:
        yield LiveTable(delivery_rows.COLUMNS, id="delivery-customers")
        yield Static(id="deliveries-summary", classes="summary")
        yield LiveTable(ROW_COLUMNS, id="deliveries-table")

    def on_mount(self) -> None:
        self.query_one("#delivery-customers").border_title = \
            "Customers and their CRM endpoints (requests: last hour; R: replay dead letters)"

    async def fetch(self, source) -> tuple:
        return await asyncio.gather(source.delivery_stats(), source.endpoint_stats(),
                                    source.deliveries(self.status_filter, 200))

    def show(self, data: tuple) -> None:
        customers, endpoints, rows = data
        now = self.app.clock()
        self.query_one("#delivery-customers", LiveTable).set_rows(delivery_rows.rows(customers, endpoints, now))
        self._rows = {str(r["id"]): r for r in rows}
        self.query_one("#deliveries-table", LiveTable).set_rows((str(r["id"]), row_cells(r, now)) for r in rows)
        shown = self.status_filter or "all"
        self.query_one("#deliveries-summary", Static).update(
            f"Outbox: {len(rows)} rows ({shown}) · s: status · r: send again · R: every dead letter "
            "of the customer · enter: attempts")

    def action_cycle_filter(self) -> None:
        self.status_filter = FILTERS[(FILTERS.index(self.status_filter) + 1) % len(FILTERS)]
        self.reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "deliveries-table":
            self.post_message(OpenDelivery(event.row_key.value))

    async def action_retry(self) -> None:
        key = self.query_one("#deliveries-table", LiveTable).selected_key
        if key is None:
            self.notify("no delivery selected", severity="warning")
            return
        try:
            row = await self.app.source.retry(key)
        except SourceError as exc:
            self.notify(f"not sent again: {exc}", severity="error")
            return
        self.notify(f"delivery {row['id']} ({row['event_type']}) is {row['status']}: sent again now")
        self.reload()

    def selected_customer(self) -> str | None:
        """The customer of the focused table's row (the customers table by default)."""
        rows = self.query_one("#deliveries-table", LiveTable)
        if rows.has_focus and rows.selected_key in self._rows:
            return self._rows[rows.selected_key].get("customer") or None
        return delivery_rows.customer_of(self.query_one("#delivery-customers", LiveTable).selected_key) or None

    @work(exclusive=True, group="retry-dead")
    async def action_retry_dead(self) -> None:
        customer = self.selected_customer()
        if not customer:
            self.notify("select a customer first", severity="warning")
            return
        if not await self.app.push_screen_wait(ConfirmScreen(
                f"Send every dead letter of {customer} again?")):
            return
        try:
            count = await self.app.source.retry_dead(customer)
        except SourceError as exc:
            self.notify(f"not replayed: {exc}", severity="error")
            return
        self.notify(f"{count} dead deliveries of {customer} queued again")
        self.reload()


def row_cells(r: dict, now: float) -> list:
    return [str(r["id"]), styled(r.get("status", "")), str(r.get("attempts", 0)), r.get("event_type", ""),
            r.get("customer") or "-", f"{r.get('extension', '')}@{r.get('domain', '')}",
            short_id(r.get("callid", "")), clock_time(r.get("created_at")), r.get("endpoint") or "-",
            r.get("last_error") or ""]
