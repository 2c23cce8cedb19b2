"""The pricing lab in the admin: /admin/billing/priceagreement/<id>/simulate/ replays an
agreement's closed periods under proposed prices (billing/simulations.py) and shows, per
period, what was invoiced and what would have been, the costs and both margins, as a
table, a chart and CSV (`&format=csv`). Anyone who may view agreements; a read: nothing
is written or locked. Whoever may change agreements may then apply the proposal as the
agreement's next version (a POST, billing/version_changes.py)."""

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from billing.admin.saved_simulations import saved_list, simulation_save
from billing.admin.simulation_forms import PriceForm, RangeForm, period_label
from billing.agreement_changes import agreement_locked
from billing.exports import cell_text, csv_response
from billing.models import AgreementVersion, PriceAgreement
from billing.money import ZERO, format_money, round_line
from billing.rating import prices_of
from billing.simulations import (
    Figures,
    Simulation,
    agreement_proposed,
    agreement_simulate,
    periods_closed,
    prices_proposed,
)
from billing.version_changes import boundaries_open, version_schedule
from billing.versions import terms_read
from customers.currencies import minor_unit
from customers.errors import ConflictError

CSV_COLUMNS = (
    "period_start",
    "period_end",
    "invoice",
    "currency",
    "invoiced",
    "revenue_actual",
    "revenue_simulated",
    "change",
    "costs",
    "margin_actual",
    "margin_percent_actual",
    "margin_simulated",
    "margin_percent_simulated",
)


def percent_text(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}%"


def change_percent(simulated: Decimal, actual: Decimal) -> Decimal | None:
    if not actual:
        return None
    return ((simulated - actual) / actual * 100).quantize(Decimal("0.01"))


def _row(label: str, invoice, actual: Figures, simulated: Figures, currency: str) -> dict:
    def money(value):
        return format_money(value, currency)

    change = simulated.revenue - actual.revenue
    return {
        "label": label,
        "invoice": invoice,
        "invoiced": money(actual.invoiced),
        "actual": money(actual.revenue),
        "simulated": money(simulated.revenue),
        "change": ("+" if change > 0 else "") + money(change),
        "change_percent": percent_text(change_percent(simulated.revenue, actual.revenue)),
        "costs": money(actual.costs),
        "margin_actual": money(actual.margin),
        "margin_percent_actual": percent_text(actual.margin_percent),
        "margin_simulated": money(simulated.margin),
        "margin_percent_simulated": percent_text(simulated.margin_percent),
        "up": change > 0,
        "down": change < 0,
    }


def result_rows(simulation: Simulation, currency: str) -> tuple[list[dict], dict]:
    rows = [
        _row(period_label(r.period), r.invoice, r.actual, r.simulated, currency)
        for r in simulation.periods
    ]
    totals = _row(
        "Total", None, simulation.total("actual"), simulation.total("simulated"), currency
    )
    return rows, totals


def chart_data(simulation: Simulation, currency: str) -> dict:
    def number(value):
        return str(round_line(value, currency))

    return {
        "currency": currency,
        "places": minor_unit(currency),
        "labels": [f"{r.period.starts_at:%Y-%m-%d}" for r in simulation.periods],
        "actual": [number(r.actual.revenue) for r in simulation.periods],
        "simulated": [number(r.simulated.revenue) for r in simulation.periods],
        "costs": [number(r.actual.costs) for r in simulation.periods],
    }


def csv_rows(simulation: Simulation, currency: str):
    def amount(value):
        return format_money(value, currency, grouping=False)

    def percent(value):
        return "" if value is None else str(value)

    for r in simulation.periods:
        yield {
            "period_start": r.period.starts_at.date().isoformat(),
            "period_end": r.period.ends_at.date().isoformat(),
            "invoice": cell_text(r.invoice.number),
            "currency": currency,
            "invoiced": amount(r.actual.invoiced),
            "revenue_actual": amount(r.actual.revenue),
            "revenue_simulated": amount(r.simulated.revenue),
            "change": amount(r.simulated.revenue - r.actual.revenue),
            "costs": amount(r.actual.costs),
            "margin_actual": amount(r.actual.margin),
            "margin_percent_actual": percent(r.actual.margin_percent),
            "margin_simulated": amount(r.simulated.margin),
            "margin_percent_simulated": percent(r.simulated.margin_percent),
        }


def partials_proposed(price_forms) -> dict:
    fractions = {f.price.outcome_definition_id: f.partial_fraction_changed() for f in price_forms}
    return {k: v for k, v in fractions.items() if v is not None}


def _apply(request, agreement, prices, range_form, price_forms):
    """The proposal saved as the agreement's new version (a POST); a response, or the
    problem to show."""
    if partials_proposed(price_forms):
        return None, (
            "A partial rule belongs to its outcome definition, for every customer: change "
            "it there. A version holds this agreement's fee, minimum, cap and prices only."
        )
    starts = {s.isoformat(): s for s in boundaries_open(agreement, timezone.now())}
    start = starts.get(request.POST.get("effective_from", ""))
    if start is None:
        return None, "Choose one of the period starts offered for the new version."
    try:
        # The changes made to the agreement's rows as they are once locked (an edit
        # saved meanwhile is kept, not overwritten).
        agreement, _ = agreement_locked(agreement.pk)
        terms = terms_read(
            agreement_proposed(agreement, range_form.changes()),
            prices_proposed(prices_of(agreement), {f.price.pk: f.changes() for f in price_forms}),
        )
        version = version_schedule(
            agreement_id=agreement.pk,
            effective_from=start,
            terms=terms,
            source=AgreementVersion.Source.SIMULATION,
            note="pricing lab",
            user=request.user,
        )
    except ConflictError as error:
        return None, error.message
    except ValidationError as error:
        return None, " ".join(error.messages)
    if version is None:
        return None, "These are the agreement's terms already: there is nothing to apply."
    messages.success(
        request,
        f"The simulated terms are version {version.number} of this agreement, from "
        f"{version.effective_from:%Y-%m-%d}; the periods before keep their prices.",
    )
    return redirect("admin:billing_priceagreement_change", agreement.pk), None


def simulate_view(model_admin, request, object_id):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    applying = request.method == "POST"
    if applying and not model_admin.has_change_permission(request):
        raise PermissionDenied
    agreement = get_object_or_404(PriceAgreement.objects.select_related("customer"), pk=object_id)
    periods = periods_closed(agreement)
    prices = prices_of(agreement)
    run = "run" in request.GET
    data = request.GET if run else None
    range_form = RangeForm(data, agreement=agreement, periods=periods)
    price_forms = [PriceForm(data, price=price) for price in prices]
    simulation, problems = None, []
    if run and periods and range_form.is_valid() and all(f.is_valid() for f in price_forms):
        try:
            simulation = agreement_simulate(
                agreement=agreement,
                periods=range_form.chosen(),
                agreement_changes=range_form.changes(),
                price_changes={f.price.pk: f.changes() for f in price_forms},
                partial_fractions=partials_proposed(price_forms),
            )
        except ValidationError as error:
            problems = [f"{field}: {' '.join(texts)}" for field, texts in _named(error)]
        if applying and not problems:
            if request.POST.get("action") == "save":
                rows, totals = result_rows(simulation, agreement.currency)
                response, problem = simulation_save(
                    request, agreement, [range_form, *price_forms], rows, totals, agreement.currency
                )
            else:
                with transaction.atomic():
                    response, problem = _apply(request, agreement, prices, range_form, price_forms)
            if response is not None:
                return response
            problems.append(problem)
    currency = agreement.currency
    if simulation is not None and request.GET.get("format") == "csv":
        name = f"simulation-agreement-{agreement.pk}.csv"
        return csv_response(CSV_COLUMNS, csv_rows(simulation, currency), filename=name)
    rows, totals = result_rows(simulation, currency) if simulation else ([], None)
    query = request.GET.copy()
    apply_query = query.urlencode()
    query["format"] = "csv"
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": f"Simulate a change: {agreement.name}",
        "agreement": agreement,
        "periods": periods,
        "range_form": range_form,
        "price_forms": price_forms,
        "problems": problems,
        "simulation": simulation,
        "rows": rows,
        "totals": totals,
        "chart": chart_data(simulation, currency) if simulation else None,
        "csv_query": query.urlencode(),
        "apply_query": apply_query,
        "apply_starts": boundaries_open(agreement, timezone.now())
        if simulation is not None and model_admin.has_change_permission(request)
        else [],
        "may_save": simulation is not None and model_admin.has_change_permission(request),
        "saved": saved_list(agreement),
        "currency": currency,
        "zero": ZERO,
    }
    return TemplateResponse(request, "admin/billing/priceagreement/simulate.html", context)


def _named(error: ValidationError):
    if hasattr(error, "error_dict"):
        return error.message_dict.items()
    return [("Proposal", error.messages)]


def simulation_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view

    def simulate(request, object_id):
        return simulate_view(model_admin, request, object_id)

    return [
        path("<int:object_id>/simulate/", view(simulate), name="billing_priceagreement_simulate")
    ]
