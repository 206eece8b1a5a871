"""Deliveries: per customer and per CRM endpoint, then the outbox itself.

s cycles the status filter (dead letters first), r sends the selected row
again, R replays every dead letter of the selected customer (after a yes),
enter opens a row with its attempts."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from ..client import SourceError
from ..formatting import ago, clock_time, number, percent, short_id, styled
from ..messages import OpenDelivery
from ..widgets.live_table import LiveTable
from .base import LiveScreen
from .confirm import ConfirmScreen
from .dashboard import customer_cells

FILTERS = (None, "dead", "retrying", "pending", "delivered", "skipped")
CUSTOMER_COLUMNS = ["Customer", "Backlog", "Pending", "Retrying", "Delivered", "Dead", "Skipped", "Oldest due",
                    "Last delivered"]
ENDPOINT_COLUMNS = ["Endpoint", "Customers", "Requests", "Failed", "Errors", "Avg", "p95", "In flight", "Last",
                    "Last failure"]
ROW_COLUMNS = ["ID", "Status", "Tries", "Event", "Customer", "Extension", "Call", "Created", "Last error"]


class DeliveriesScreen(LiveScreen):
    BINDINGS = [("s", "cycle_filter", "Status"), ("r", "retry", "Retry"), ("R", "retry_dead", "Retry dead")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.status_filter: str | None = None
        self._rows: dict[str, dict] = {}

    def compose_body(self) -> ComposeResult:
        yield LiveTable(CUSTOMER_COLUMNS, id="delivery-customers")
        yield LiveTable(ENDPOINT_COLUMNS, id="delivery-endpoints")
        yield Static(id="deliveries-summary", classes="summary")
        yield LiveTable(ROW_COLUMNS, id="deliveries-table")

    def on_mount(self) -> None:
        self.query_one("#delivery-customers").border_title = "Customers (R: replay dead letters)"
        self.query_one("#delivery-endpoints").border_title = "CRM endpoints, last hour"

    async def fetch(self, source) -> tuple:
        return await asyncio.gather(source.delivery_stats(), source.endpoint_stats(),
                                    source.deliveries(self.status_filter, 200))

    def show(self, data: tuple) -> None:
        customers, endpoints, rows = data
        now = self.app.clock()
        self.query_one("#delivery-customers", LiveTable).set_rows(
            (c["customer"], customer_cells(c, now)) for c in customers)
        self.query_one("#delivery-endpoints", LiveTable).set_rows(
            (e["endpoint"], endpoint_cells(e, now)) for e in endpoints)
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
        return self.query_one("#delivery-customers", LiveTable).selected_key or None

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


def endpoint_cells(e: dict, now: float) -> list:
    code = e.get("last_status_code")
    last = "-" if e.get("last_at") is None else f"{'HTTP ' + str(code) if code is not None else 'no answer'} " \
                                               f"{ago(e.get('last_at'), now)}"
    rate = e.get("error_rate") or 0.0
    failure = Text(f"{e['last_failure']} {ago(e.get('last_failure_at'), now)}", style="red") \
        if e.get("last_failure") else "-"
    return [e["endpoint"], ", ".join(e.get("customers") or []) or "-", str(e.get("requests", 0)),
            str(e.get("failed", 0)), Text(percent(rate), style="bold red" if rate >= 0.1 else ""),
            number(e.get("latency_avg_ms"), " ms", 1), number(e.get("latency_p95_ms"), " ms", 1),
            str(e.get("in_flight", 0)), last, failure]


def row_cells(r: dict, now: float) -> list:
    return [str(r["id"]), styled(r.get("status", "")), str(r.get("attempts", 0)), r.get("event_type", ""),
            r.get("customer") or "-", f"{r.get('extension', '')}@{r.get('domain', '')}",
            short_id(r.get("callid", "")), clock_time(r.get("created_at")), r.get("last_error") or ""]
