"""The one page outside the admin: a customer's outcome statement behind a signed link."""

from django.core import signing
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import render

from billing.models import BilledSignal, Invoice, OutcomeDefinition
from billing.statements import statement_invoice_id


def outcome_statement(request, token: str):
    try:
        invoice_id = statement_invoice_id(token)
    except signing.SignatureExpired:
        return render(request, "billing/statement_expired.html", status=410)
    except (signing.BadSignature, ValueError):
        raise Http404("No such statement.") from None
    invoice = Invoice.objects.select_related("customer", "period").filter(pk=invoice_id).first()
    if invoice is None:
        raise Http404("No such statement.")
    outcomes = {
        row["outcome_definition"]: row
        for row in BilledSignal.objects.filter(invoice=invoice)
        .values(
            "outcome_definition",
            "outcome_definition__name",
            "outcome_definition__partial_rule",
            "outcome_definition__partial_fraction",
        )
        .annotate(
            successes=Count("pk", filter=Q(outcome=BilledSignal.Outcome.SUCCESS, counted=True)),
            partials=Count("pk", filter=Q(outcome=BilledSignal.Outcome.PARTIAL)),
            failures=Count("pk", filter=Q(outcome=BilledSignal.Outcome.FAILURE)),
        )
        .order_by("outcome_definition__name")
    }
    return render(
        request,
        "billing/statement.html",
        {
            "invoice": invoice,
            "void": invoice.status == Invoice.Status.VOID,
            "outcomes": list(outcomes.values()),
            "lines": invoice.lines.all(),
            "PartialRule": OutcomeDefinition.PartialRule,
        },
    )
