"""The portfolio change in the admin: /admin/billing/priceagreement/portfolio/ simulates
one change over every agreement it concerns (billing/portfolio.py) and lists the
customers by impact, flagging increases above a threshold, as a table and CSV; whoever
may change agreements then schedules it for the customers ticked, as the next version of
each agreement (a POST), all at once."""

from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from billing.admin.portfolio_forms import PortfolioForm
from billing.admin.simulations import change_percent, percent_text
from billing.exports import cell_text, csv_response
from billing.money import format_money
from billing.portfolio import Impact, portfolio_schedule, portfolio_simulate, portfolio_totals
from customers.errors import ConflictError

CSV_COLUMNS = (
    "customer",
    "agreement",
    "currency",
    "periods",
    "revenue_actual",
    "revenue_simulated",
    "change",
    "change_percent",
    "margin_percent_actual",
    "margin_percent_simulated",
    "flagged",
    "problem",
)


def _row(impact: Impact, threshold, currency: str) -> dict:
    change = impact.change
    return {
        "impact": impact,
        "actual": format_money(impact.actual.revenue, currency),
        "simulated": format_money(impact.simulated.revenue, currency),
        "change": ("+" if change > 0 else "") + format_money(change, currency),
        "change_percent": percent_text(
            change_percent(impact.simulated.revenue, impact.actual.revenue)
        ),
        "margin_actual": percent_text(impact.actual.margin_percent),
        "margin_simulated": percent_text(impact.simulated.margin_percent),
        "flagged": impact.flagged(threshold),
        "up": change > 0,
        "down": change < 0,
    }


def _plain(value) -> str:
    return "" if value is None else str(value)


def _csv(impacts, threshold):
    for impact in impacts:
        currency = impact.agreement.currency
        yield {
            "customer": cell_text(impact.agreement.customer.name),
            "agreement": cell_text(impact.agreement.name),
            "currency": currency,
            "periods": impact.periods,
            "revenue_actual": format_money(impact.actual.revenue, currency, grouping=False),
            "revenue_simulated": format_money(impact.simulated.revenue, currency, grouping=False),
            "change": format_money(impact.change, currency, grouping=False),
            "change_percent": "" if impact.change_percent is None else str(impact.change_percent),
            "margin_percent_actual": _plain(impact.actual.margin_percent),
            "margin_percent_simulated": _plain(impact.simulated.margin_percent),
            "flagged": "yes" if impact.flagged(threshold) else "",
            "problem": cell_text(impact.problem),
        }


def _schedule(request, form, impacts) -> str | None:
    """Schedules the change for the agreements ticked (of those the change was shown to
    apply to); the problem to show, if any."""
    offered = {str(i.agreement.pk): i.agreement.pk for i in impacts if not i.problem}
    ticked = request.POST.getlist("agreement")
    ids = [offered[i] for i in ticked if i in offered]
    if len(ids) != len(ticked):
        return (
            "Some ticked agreements are not among those this change applies to (the list "
            "changed since?): run the simulation again and tick from it."
        )
    if not ids:
        return "Tick the customers to schedule the change for."
    raw = request.POST.get("on_or_after", "")
    try:
        on_or_after = date.fromisoformat(raw) if raw else None
    except ValueError:
        return "Give the date as YYYY-MM-DD, or leave it empty for each next period."
    try:
        versions = portfolio_schedule(
            form.change, agreement_ids=ids, user=request.user, on_or_after=on_or_after
        )
    except ConflictError as error:
        return f"Nothing was scheduled: {error.message}"
    messages.success(
        request,
        f"Scheduled “{form.change.describe()}” for {len(versions)} agreement"
        f"{'s' if len(versions) != 1 else ''}, each from its next period start"
        + (f" on or after {on_or_after}" if on_or_after else "")
        + ", or joining the version already scheduled there (see each agreement's versions).",
    )
    return None


def portfolio_view(model_admin, request):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    may_change = model_admin.has_change_permission(request)
    applying = request.method == "POST"
    if applying and not may_change:
        raise PermissionDenied
    run = "run" in request.GET
    form = PortfolioForm(request.GET if run else None)
    impacts, problems = None, []
    if run and form.is_valid():
        impacts = portfolio_simulate(form.change, **form.range())
        if applying:
            problem = _schedule(request, form, impacts)
            if problem is None:
                return redirect(reverse("admin:billing_priceagreement_changelist"))
            problems.append(problem)
    threshold = form.cleaned_data["threshold"] if impacts is not None else None
    if impacts is not None and request.GET.get("format") == "csv":
        return csv_response(CSV_COLUMNS, _csv(impacts, threshold), filename="portfolio-change.csv")
    query = request.GET.copy()
    apply_query = query.urlencode()
    query["format"] = "csv"
    rows = [_row(i, threshold, i.agreement.currency) for i in impacts or []]
    totals = [
        _row(total, threshold, currency)
        for currency, total in sorted(portfolio_totals(impacts or []).items())
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Simulate a portfolio change",
        "form": form,
        "impacts": impacts,
        "rows": rows,
        "totals": totals,
        "flagged": sum(1 for r in rows if r["flagged"]),
        "problems": problems,
        "description": form.change.describe() if impacts is not None else "",
        "may_change": may_change,
        "apply_query": apply_query,
        "csv_query": query.urlencode(),
        "today": timezone.now().date(),
    }
    return TemplateResponse(request, "admin/billing/priceagreement/portfolio.html", context)


def portfolio_urls(model_admin) -> list:
    def portfolio(request):
        return portfolio_view(model_admin, request)

    view = model_admin.admin_site.admin_view(portfolio)
    return [path("portfolio/", view, name="billing_priceagreement_portfolio")]
