"""Saved simulations: a pricing-lab run kept by name with its parameters and what it
showed, listed on its agreement's page and its lab page, re-run from its parameters."""

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from billing.models import SavedSimulation

ROW_FIELDS = (
    "label",
    "invoiced",
    "actual",
    "simulated",
    "change",
    "change_percent",
    "costs",
    "margin_actual",
    "margin_percent_actual",
    "margin_simulated",
    "margin_percent_simulated",
)


def _stored(row: dict) -> dict:
    stored = {name: str(row[name]) for name in ROW_FIELDS}
    stored["invoice"] = row["invoice"].number if row.get("invoice") else ""
    return stored


def parameters_of(query, forms) -> dict:
    """The simulation's own parameters from the page's query (one value each): the
    forms' fields only (they were valid: no NUL, no stray keys)."""
    names = {"run"} | {form.add_prefix(name) for form in forms for name in form.fields}
    return {key: query.get(key) for key in query if key in names}


def rerun_url(saved: SavedSimulation) -> str:
    base = reverse("admin:billing_priceagreement_simulate", args=[saved.agreement_id])
    return f"{base}?{urlencode(saved.parameters)}"


def simulation_save(request, agreement, forms, rows: list[dict], totals: dict, currency: str):
    """Keeps the run (a POST with a name): a redirect to it, or the problem to show."""
    name = request.POST.get("name", "").strip()
    if not name:
        return None, "Name the simulation to save it, e.g. “graduated from March”."
    if len(name) > 200 or "\x00" in name:
        return None, "A name is at most 200 characters of text."
    saved = SavedSimulation.objects.create(
        agreement=agreement,
        name=name,
        parameters=parameters_of(request.GET, forms),
        results={
            "currency": currency,
            "rows": [_stored(row) for row in rows],
            "totals": _stored(totals),
        },
        created_by=request.user,
    )
    messages.success(request, f"Saved “{saved.name}”: re-run it from the list below.")
    return redirect(rerun_url(saved)), None


def saved_list(agreement) -> list[dict]:
    return [
        {
            "saved": saved,
            "url": rerun_url(saved),
            "totals": saved.results.get("totals", {}),
            "currency": saved.results.get("currency", ""),
            "periods": len(saved.results.get("rows", [])),
        }
        for saved in SavedSimulation.objects.filter(agreement=agreement).select_related(
            "created_by"
        )[:20]
    ]
