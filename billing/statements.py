"""Customer outcome statements: a signed, expiring link per invoice (Django's signing),
so a customer sees the proof of value without an account."""

from django.conf import settings
from django.core import signing
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, Subquery

from billing.models import BilledSignal, DisputedOutcome, OutcomeDefinition

SALT = "billing.statement"


def statement_token(invoice_id: int) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(invoice_id))


def statement_invoice_id(token: str) -> int:
    """The invoice id of a valid token; raises signing.SignatureExpired (too old) or
    signing.BadSignature (tampered)."""
    max_age = settings.STATEMENT_LINK_DAYS * 86400
    return int(signing.TimestampSigner(salt=SALT).unsign(token, max_age=max_age))


def _data_shown(data, fields: int = 3) -> str:
    """A few of the signal's data fields (its costs left out), as `key: value`."""
    if not isinstance(data, dict):
        return ""
    shown = [(k, v) for k, v in data.items() if not str(k).endswith("_cost")][:fields]
    return ", ".join(f"{k}: {v}" for k, v in shown)


def statement_outcomes(*, invoice, params, per_page: int = 50) -> dict:
    """One page of the invoice's charged outcomes (and those disputed on it), oldest
    signal first, filtered by outcome definition (`?definition=<id>`): what the customer
    may dispute. An invoice may bill 100,000 outcomes: a page is read by the marks'
    (invoice, ...) index, never all of them."""
    marks = BilledSignal.objects.filter(invoice=invoice).filter(
        Q(counted=True, fraction__gt=0) | Q(outcome=BilledSignal.Outcome.DISPUTED)
    )
    definitions = list(
        OutcomeDefinition.objects.filter(
            pk__in=BilledSignal.objects.filter(invoice=invoice)
            .values("outcome_definition_id")
            .distinct()
        ).order_by("name")
    )
    selected = None
    try:
        selected = int(params.get("definition") or 0) or None
    except ValueError:
        selected = None
    if selected:
        marks = marks.filter(outcome_definition_id=selected)
    dispute = DisputedOutcome.objects.filter(signal_id=OuterRef("signal_id"))
    marks = (
        marks.select_related("signal")
        .annotate(
            dispute_id=Subquery(dispute.values("dispute_id")[:1]),
            dispute_state=Subquery(dispute.values("dispute__state")[:1]),
        )
        .order_by("signal_id")
    )
    page = Paginator(marks, per_page).get_page(params.get("page"))
    names = {d.pk: d.name for d in definitions}
    rows = [
        {
            "mark": mark,
            "signal": mark.signal,
            "definition": names.get(mark.outcome_definition_id, ""),
            "data": _data_shown(mark.signal.data),
        }
        for mark in page.object_list
    ]
    return {"page": page, "rows": rows, "definitions": definitions, "selected": selected}
