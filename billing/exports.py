"""CSV exports of invoices and margin figures: the columns and formats of one row, written
the same by the admin and by the staff API (`?format=csv`).

Formats, for files read by programs: amounts at the currency's minor unit without
thousands separators (`7.50`, JPY `38323`); unit prices exact (`0.0045`); quantities
without trailing zeros (`2.5`); period bounds as ISO dates (periods start and end at
midnight UTC, the end exclusive); instants as ISO datetimes in UTC to the second
(`2026-02-02T00:00:00Z`); yes/no as `true`/`false`. Free text (names, descriptions,
reasons, numbers) goes through `cell_text`, so a spreadsheet never runs it as a formula.
"""

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse

from billing.models import Invoice, MarginFigure
from billing.money import format_money, format_quantity

# A cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value) -> str:
    """Free text for a CSV cell: a leading apostrophe when it would start a formula, so a
    spreadsheet shows `'=HYPERLINK(...)` as text instead of running it. Never for
    amounts: `-12.50` is a number and stays one."""
    value = "" if value is None else str(value)
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _amount(amount, currency: str) -> str:
    return format_money(amount, currency, grouping=False)


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _instant(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _yes_no(value: bool) -> str:
    return "true" if value else "false"


# --- Invoices ----------------------------------------------------------------------------
INVOICE_COLUMNS = (
    "number",
    "customer_id",
    "period_start",
    "period_end",
    "status",
    "currency",
    "net",
    "tax",
    "total",
    "amount_paid",
    "amount_credited",
    "amount_due",
    "issued_at",
    "due_at",
    "void_reason",
    "kind",  # last: a column added later (period, or top_up: no period)
)
INVOICE_RELATED = ("customer", "period")


def invoice_row(invoice: Invoice) -> dict[str, str]:
    return {
        "number": cell_text(invoice.number),
        "customer_id": cell_text(invoice.customer.external_id),
        # A top-up invoice bills no period.
        "period_start": _date(invoice.period.starts_at) if invoice.period else "",
        "period_end": _date(invoice.period.ends_at) if invoice.period else "",
        "status": invoice.status,
        "currency": invoice.currency,
        "net": _amount(invoice.net, invoice.currency),
        "tax": _amount(invoice.tax, invoice.currency),
        "total": _amount(invoice.total, invoice.currency),
        "amount_paid": _amount(invoice.amount_paid, invoice.currency),
        "amount_credited": _amount(invoice.amount_credited, invoice.currency),
        "amount_due": _amount(invoice.amount_due, invoice.currency),
        "issued_at": _instant(invoice.issued_at),
        "due_at": _instant(invoice.due_at),
        "void_reason": cell_text(invoice.void_reason),
        "kind": invoice.kind,
    }


def invoice_rows(invoices: QuerySet[Invoice]) -> Iterable[dict[str, str]]:
    for invoice in invoices.select_related(*INVOICE_RELATED).order_by("issued_at", "id"):
        yield invoice_row(invoice)


INVOICE_LINE_COLUMNS = (
    "invoice",
    "kind",
    "description",
    "successes",
    "partials",
    "quantity",
    "unit_price",
    "amount",
    "tax_percent",
    "currency",
)


def invoice_line_rows(invoice: Invoice) -> Iterable[dict[str, str]]:
    """The lines of one invoice (net of tax), then its net, one row per tax rate (kind
    `tax`, its percent) and its total (kind `total`)."""
    for line in invoice.lines.all():
        yield {
            "invoice": cell_text(invoice.number),
            "kind": line.kind,
            "description": cell_text(line.description),
            "successes": str(line.successes),
            "partials": str(line.partials),
            "quantity": format_quantity(line.quantity),
            "unit_price": format_money(line.unit_price, grouping=False),
            "amount": _amount(line.amount, invoice.currency),
            "tax_percent": format_quantity(line.tax_percent)
            if line.tax_percent is not None
            else "",
            "currency": invoice.currency,
        }
    yield {
        "invoice": cell_text(invoice.number),
        "kind": "net",
        "amount": _amount(invoice.net, invoice.currency),
        "currency": invoice.currency,
    }
    for tax in invoice.taxes.all():
        yield {
            "invoice": cell_text(invoice.number),
            "kind": "tax",
            "description": cell_text(f"{tax.name} on {_amount(tax.net, invoice.currency)}"),
            "amount": _amount(tax.tax, invoice.currency),
            "tax_percent": format_quantity(tax.percent),
            "currency": invoice.currency,
        }
    yield {
        "invoice": cell_text(invoice.number),
        "kind": "total",
        "amount": _amount(invoice.total, invoice.currency),
        "currency": invoice.currency,
    }


# --- Margin figures ----------------------------------------------------------------------
MARGIN_COLUMNS = (
    "period_start",
    "period_end",
    "invoice_number",
    "customer_id",
    "agent_id",
    "outcome",
    "currency",
    "successes",
    "partials",
    "failures",
    "disputed",
    "revenue_outcomes",
    "revenue_allocated",
    "revenue_credited",
    "revenue",
    "cost",
    "cost_by_category",
    "cost_by_model",
    "cost_of_failures",
    "cost_of_disputes",
    "unpriced_costs",
    "margin",
    "margin_percent",
    "reporting_currency",
    "revenue_reporting",
    "cost_reporting",
    "incomplete",
    "missing_rates",
    "below_target",
)
MARGIN_RELATED = ("period", "invoice", "customer", "agent", "outcome_definition")


def _costs(costs: dict[str, str], currency: str) -> str:
    """A cost breakdown (stored as decimal strings) as a JSON object of CSV amounts."""
    return json.dumps(
        {key: _amount(Decimal(value), currency) for key, value in sorted(costs.items())}
    )


def margin_row(figure: MarginFigure) -> dict[str, str]:
    currency, reporting = figure.currency, figure.reporting_currency
    return {
        "period_start": _date(figure.period.starts_at),
        "period_end": _date(figure.period.ends_at),
        "invoice_number": cell_text(figure.invoice.number),
        "customer_id": cell_text(figure.customer.external_id),
        "agent_id": cell_text(figure.agent.external_id),
        "outcome": cell_text(figure.outcome_definition.name),
        "currency": currency,
        "successes": str(figure.successes),
        "partials": str(figure.partials),
        "failures": str(figure.failures),
        "disputed": str(figure.disputed),
        "revenue_outcomes": _amount(figure.revenue_outcomes, currency),
        "revenue_allocated": _amount(figure.revenue_allocated, currency),
        "revenue_credited": _amount(figure.revenue_credited, currency),
        "revenue": _amount(figure.revenue, currency),
        "cost": _amount(figure.cost, currency),
        "cost_by_category": _costs(figure.cost_by_category, currency),
        "cost_by_model": _costs(figure.cost_by_model, currency),
        "cost_of_failures": _amount(figure.cost_of_failures, currency),
        "cost_of_disputes": _amount(figure.cost_of_disputes, currency),
        "unpriced_costs": str(figure.unpriced_costs),
        "margin": _amount(figure.margin, currency),
        "margin_percent": "" if figure.margin_percent is None else f"{figure.margin_percent:.2f}",
        "reporting_currency": reporting,
        "revenue_reporting": _amount(figure.revenue_reporting, reporting),
        "cost_reporting": _amount(figure.cost_reporting, reporting),
        "incomplete": _yes_no(figure.incomplete),
        "missing_rates": figure.missing_rates,
        "below_target": _yes_no(figure.below_target),
    }


def margin_rows(figures: QuerySet[MarginFigure]) -> Iterable[dict[str, str]]:
    for figure in figures.select_related(*MARGIN_RELATED).iterator(chunk_size=2000):
        yield margin_row(figure)


# --- Writing -----------------------------------------------------------------------------
def write_csv(out, columns: Sequence[str], rows: Iterable[dict]) -> None:
    writer = csv.DictWriter(out, fieldnames=list(columns), restval="")
    writer.writeheader()
    writer.writerows(rows)


def csv_text(columns: Sequence[str], rows: Iterable[dict]) -> str:
    out = io.StringIO()
    write_csv(out, columns, rows)
    return out.getvalue()


class _Echo:
    """A file that hands back what is written to it: the csv module's line, streamed."""

    def write(self, value: str) -> str:
        return value


def csv_chunks(columns: Sequence[str], rows: Iterable[dict], *, rows_per_chunk=200):
    """The CSV as text chunks (the header, then `rows_per_chunk` rows at a time): written
    as they are read, never held whole."""
    writer = csv.DictWriter(_Echo(), fieldnames=list(columns), restval="")
    yield writer.writeheader()
    chunk = []
    for row in rows:
        chunk.append(writer.writerow(row))
        if len(chunk) >= rows_per_chunk:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)


def csv_streaming_response(
    columns: Sequence[str], rows: Iterable[dict], *, filename: str
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_chunks(columns, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_response(columns: Sequence[str], rows: Iterable[dict], *, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    write_csv(response, columns, rows)
    return response
