"""Agreement versions, written: new terms for an agreement that has billed, from a
period boundary on (billing/versions.py reads them).

Prices change only at period boundaries. A change saved after the agreement billed
becomes a version effective from a future period start, the next by default: the periods
before it keep billing under the version they started in. The first change also stores
the terms before it, as version 1 from the agreement's start. A version is changed again
only while no period under it has begun; a new one never starts before the newest. The
agreement's rows hold the newest version's terms (what the admin shows). Each version row
names who made it and from where, and keeps its django-simple-history rows.

Everything runs with the agreement's periods and row locked (as agreement_changes.py),
so a close, which locks its period, prices it under one version: the one saved before
it, or, when the close came first, the new version is refused for that period."""

from datetime import UTC, datetime
from itertools import islice, takewhile

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.agreement_changes import agreement_locked
from billing.agreements import audited_save
from billing.models import AgreementVersion, BillingPeriod, PriceAgreement, PriceTier
from billing.periods import midnight, period_bounds
from billing.rating import prices_of
from billing.versions import (
    AGREEMENT_TERMS,
    DECIMAL_TERMS,
    PRICE_TERMS,
    _number,
    terms_normal,
    terms_read,
)
from customers.errors import ConflictError

FAR = datetime(9999, 1, 1, tzinfo=UTC)


def _starts(agreement: PriceAgreement):
    """The agreement's period starts, in order, lazily (to its end, if it has one)."""
    return (start for start, _, _ in period_bounds(agreement, FAR))


def _is_start(agreement: PriceAgreement, at: datetime) -> bool:
    return at in takewhile(lambda start: start <= at, _starts(agreement))


def boundaries_open(agreement: PriceAgreement, now: datetime, count: int = 12) -> list[datetime]:
    """The period starts a new version may take effect from: after now, and not before
    the newest version (a pending one may be replaced)."""
    newest = AgreementVersion.objects.filter(agreement=agreement).order_by("-effective_from")
    floor = max([now, *[v.effective_from for v in newest[:1]]])
    return list(islice((s for s in _starts(agreement) if s > now and s >= floor), count))


def boundary_problem(agreement: PriceAgreement, effective_from: datetime, now: datetime):
    """Why a version cannot start at `effective_from` (None: it can)."""
    open_ones = boundaries_open(agreement, now, count=3)
    then = ", ".join(f"{b:%Y-%m-%d}" for b in open_ones) or "none: the agreement has ended"
    invoiced = (
        BillingPeriod.objects.filter(agreement=agreement, invoices__isnull=False)
        .filter(ends_at__gt=effective_from)
        .order_by("starts_at")
        .first()
    )
    if invoiced is not None:
        where = "inside" if invoiced.starts_at <= effective_from else "before"
        return (
            f"{effective_from:%Y-%m-%d} is {where} the period {invoiced.starts_at:%Y-%m-%d} – "
            f"{invoiced.ends_at:%Y-%m-%d}, which has been invoiced: new prices can take "
            f"effect from {then}."
        )
    if not _is_start(agreement, effective_from):
        return (
            f"{effective_from:%Y-%m-%d} is not the start of one of this agreement's periods: "
            f"new prices can take effect from {then}."
        )
    if effective_from <= now:
        return (
            f"The period from {effective_from:%Y-%m-%d} has begun: prices change only at "
            f"a period boundary, so from {then}."
        )
    newest = (
        AgreementVersion.objects.filter(agreement=agreement).order_by("-effective_from").first()
    )
    if newest is not None and effective_from < newest.effective_from:
        return (
            f"Version {newest.number} takes effect on {newest.effective_from:%Y-%m-%d}: "
            f"a new version cannot start before it ({then})."
        )
    return None


def _refuse_a_new_value_field(before: dict, after: dict, prices) -> None:
    """Late signals of an earlier period are valued (rated) at a later close by the
    value field then stored: an outcome's value field, once set, stays in every version
    (models that do not use it ignore it)."""
    names = {str(p.outcome_definition_id): p.outcome_definition.name for p in prices}
    for outcome, price in before["prices"].items():
        old, new = price["value_field"], after["prices"][outcome]["value_field"]
        if old and new != old:
            raise ConflictError(
                f"{names.get(outcome, outcome)}: keep the value field “{old}” in the new "
                "version (late signals of earlier periods are valued by it; a model that "
                "does not use it ignores it).",
                field="value_field",
            )


def _checked(instance, exclude=()):
    """The row's own checks (digits, places, limits, its clean()) before it is written."""
    try:
        instance.clean_fields(exclude=list(exclude))
        instance.clean()
    except ValidationError as error:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
        raise ConflictError(f"These terms cannot be stored: {problems}") from None
    return instance


def _rows_write(agreement: PriceAgreement, terms: dict, changed_by: str) -> None:
    """The agreement's rows carry `terms` (each write audited)."""
    prices = prices_of(agreement)
    if terms_read(agreement, prices) == terms:
        return
    for name in AGREEMENT_TERMS:
        setattr(agreement, name, _number(terms[name]))
    _checked(agreement, exclude=["customer", "tax_rate"])
    audited_save(agreement, changed_by)
    for price in prices:
        stored = terms["prices"][str(price.outcome_definition_id)]
        for name in PRICE_TERMS:
            value = stored[name]
            setattr(price, name, _number(value) if name in DECIMAL_TERMS else value)
        price.tax_rate_id = stored["tax_rate"]
        audited_save(
            _checked(price, exclude=["agreement", "outcome_definition", "tax_rate"]), changed_by
        )
        rows = [tuple(_number(v) for v in row) for row in stored["tiers"]]
        current = [(t.from_quantity, t.up_to_quantity, t.unit_price) for t in price.tiers.all()]
        if rows != current:
            for tier in PriceTier.objects.filter(price=price):
                tier._change_reason = changed_by
                tier.delete()
            for lo, hi, unit in rows:
                tier = PriceTier(price=price, from_quantity=lo, up_to_quantity=hi, unit_price=unit)
                audited_save(_checked(tier, exclude=["price"]), changed_by)


def version_schedule(
    *,
    agreement_id: int,
    effective_from: datetime,
    terms: dict,
    source: str,
    user=None,
    note: str = "",
    original: dict | None = None,
    now: datetime | None = None,
) -> AgreementVersion | None:
    """Make `terms` the agreement's version from `effective_from` (a future period
    start). `original`: the terms before the change when the rows already carry it (the
    admin saved them); by default the rows are read. Returns the version, or None when
    the terms are those already scheduled. ConflictError says what to fix."""
    now = now or timezone.now()
    terms = terms_normal(terms)
    original = terms_normal(original) if original is not None else None
    # django-simple-history keeps at most 100 characters of a reason; the note is whole.
    changed_by = (f"{AgreementVersion.Source(source).label}" + (f": {note}" if note else ""))[:100]
    with transaction.atomic():
        agreement, billed = agreement_locked(agreement_id)
        if not billed:
            raise ConflictError(
                "Nothing was invoiced under this agreement yet: edit its prices directly."
            )
        problem = boundary_problem(agreement, effective_from, now)
        if problem:
            raise ConflictError(problem, field="effective_from")
        prices = prices_of(agreement)
        if set(terms["prices"]) != {str(p.outcome_definition_id) for p in prices}:
            raise ConflictError(
                "A version prices the outcomes its agreement prices: to price another "
                "outcome, give it its own agreement.",
                field="prices",
            )
        before = original if original is not None else terms_read(agreement, prices)
        if before == terms:
            return None
        _refuse_a_new_value_field(before, terms, prices)
        versions = list(
            AgreementVersion.objects.select_for_update()
            .filter(agreement=agreement)
            .order_by("effective_from")
        )
        if not versions:
            versions.append(
                AgreementVersion.objects.create(
                    agreement=agreement,
                    number=1,
                    effective_from=midnight(agreement.starts_on),
                    terms=original or terms_read(agreement, prices),
                    source=AgreementVersion.Source.ORIGINAL,
                    created_by=user,
                )
            )
        newest = versions[-1]
        if newest.effective_from == effective_from:
            version = newest  # scheduled, nothing under it has begun: changed again
            if version.note and note and note not in version.note:
                note = f"{version.note}; {note}"[:300]
            version.terms, version.source, version.note = terms, source, note or version.note
            version.created_by = user
            version._change_reason = changed_by
            version.save()
        else:
            version = AgreementVersion(
                agreement=agreement,
                number=newest.number + 1,
                effective_from=effective_from,
                terms=terms,
                source=source,
                note=note,
                created_by=user,
            )
            version._change_reason = changed_by
            version.save()
        _rows_write(agreement, terms, changed_by)
    return version
