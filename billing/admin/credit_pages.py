"""The prepaid credits pages of the admin: a customer's credits (balance per grant, the
ledger, a burn-down chart per live grant and the forecast date the money credits run
out) and the customers running out within 14 days. Anyone who may view credit grants.
Both read only: nothing is written or locked (billing.credit_forecasts)."""

from functools import partial

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from billing.credit_forecasts import (
    RATE_DAYS,
    RUNNING_OUT_DAYS,
    burndown,
    credit_forecast,
    customers_running_out,
)
from billing.models import Budget, CreditGrant, CreditLedgerEntry
from billing.money import format_money, format_quantity
from customers.models import Customer

LEDGER_ROWS = 50


def customer_credits_url(customer_id: int) -> str:
    return reverse("admin:billing_creditgrant_customer", args=[customer_id])


def amount_text(grant, amount) -> str:
    """`1,000.00 USD` for money, `500 outcomes` for an outcome grant (or allowance)."""
    if grant.unit == CreditGrant.Unit.OUTCOMES:
        return f"{format_quantity(amount)} outcomes"
    return f"{format_money(amount, grant.currency)} {grant.currency}"


def nowrap(text):
    return format_html('<span style="white-space:nowrap">{}</span>', text)


def document_link(entry) -> str:
    """The entry's invoice or credit note, linked; "—" for a grant or an expiry."""
    if entry.credit_note_id:
        url = reverse("admin:billing_creditnote_change", args=[entry.credit_note_id])
        return format_html('<a href="{}">{}</a>', url, entry.credit_note.number)
    if entry.invoice_id:
        url = reverse("admin:billing_invoice_change", args=[entry.invoice_id])
        return format_html('<a href="{}">{}</a>', url, entry.invoice.number or "draft")
    return "—"


def grant_state(grant: CreditGrant, now, *, cancelled: bool = False) -> str:
    """`cancelled`: the grant has a cancellation entry (a top-up credited or voided)."""
    if grant.remaining <= 0 and cancelled:
        return "cancelled"
    if grant.expires_at is not None and grant.expires_at <= now:
        return "expired"
    if grant.effective_at > now:
        return "not yet effective"
    if grant.remaining <= 0:
        return "used up"
    return "live"


def _context(model_admin, request, title: str) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "rate_days": RATE_DAYS,
        "within_days": RUNNING_OUT_DAYS,
    }


def customer_credits_view(model_admin, request, customer_id):
    """/admin/billing/creditgrant/customer/<id>/: ?grant=<id> charts that grant (any of the
    customer's); otherwise each live grant has its chart."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    customer = get_object_or_404(Customer, pk=customer_id)
    now = timezone.now()
    grants = list(
        CreditGrant.objects.filter(customer=customer)
        .select_related("outcome_definition")
        .order_by("-effective_at", "-pk")
    )
    cancelled = set(
        CreditLedgerEntry.objects.filter(
            grant__customer=customer, kind=CreditLedgerEntry.Kind.CANCELLATION
        ).values_list("grant_id", flat=True)
    )
    for grant in grants:
        grant.state = grant_state(grant, now, cancelled=grant.pk in cancelled)
        grant.amount_text = amount_text(grant, grant.amount)
        grant.remaining_text = amount_text(grant, grant.remaining)
    forecast = credit_forecast(customer=customer, now=now)
    budget = Budget.objects.filter(customer=customer).first()
    for grant in grants:
        end = forecast.ends.get(grant.pk)
        grant.forecast_end = end[0] if end else None
        grant.lapses = grant.pk in forecast.lapses
    chosen = request.GET.get("grant", "")
    charted = [g for g in grants if chosen.isdigit() and g.pk == int(chosen)]
    if not charted:
        charted = [g for g in grants if g.state == "live"]
    entries = list(
        CreditLedgerEntry.objects.filter(grant__customer=customer)
        .select_related("grant", "invoice", "credit_note")
        .order_by("-at", "-pk")[:LEDGER_ROWS]
    )
    for entry in entries:
        entry.amount_text = amount_text(entry.grant, entry.amount)
        entry.balance_text = amount_text(entry.grant, entry.balance_after)
        entry.document = document_link(entry)
    context = {
        **_context(model_admin, request, f"Prepaid credits of {customer.name}"),
        "customer": customer,
        "grants": grants,
        "money_grants": [g for g in grants if g.unit == CreditGrant.Unit.MONEY],
        "forecast": forecast,
        "money": _money_figures(forecast),
        "budget": budget,
        "budget_text": _budget_text(budget, customer.currency),
        "charts": [burndown(g, now=now, forecast=forecast) for g in charted],
        "entries": entries,
        "ledger_rows": LEDGER_ROWS,
        "now": now,
    }
    return TemplateResponse(request, "admin/billing/creditgrant/customer_credits.html", context)


def running_out_view(model_admin, request):
    """/admin/billing/creditgrant/running-out/: customers whose money credits run out
    within RUNNING_OUT_DAYS at their rate, soonest first."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    rows = [
        {"customer": customer, "forecast": forecast, "money": _money_figures(forecast)}
        for customer, forecast in customers_running_out(now=now)
    ]
    context = {
        **_context(model_admin, request, "Customers running out of credits"),
        "rows": rows,
        "now": now,
    }
    return TemplateResponse(request, "admin/billing/creditgrant/running_out.html", context)


def _money_figures(forecast) -> dict:
    currency = forecast.currency
    return {
        key: f"{format_money(getattr(forecast, key), currency)} {currency}"
        for key in ("remaining", "drawn", "rate")
    }


def _budget_text(budget, currency: str) -> str:
    if budget is None:
        return ""
    enforcement = budget.get_enforcement_display()
    if budget.amount is None:
        return enforcement
    return f"{format_money(budget.amount, currency)} {currency} a period; {enforcement}"


def credit_page_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view
    return [
        path(
            "customer/<int:customer_id>/",
            view(partial(customer_credits_view, model_admin)),
            name="billing_creditgrant_customer",
        ),
        path(
            "running-out/",
            view(partial(running_out_view, model_admin)),
            name="billing_creditgrant_running_out",
        ),
    ]
