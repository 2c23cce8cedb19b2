"""The overlap rule of agreements, as the admin asks it: which of these outcomes does the
customer already price on one of these days (bounds inclusive, no end = open)."""

from datetime import date

import pytest

from billing.selectors import agreements_overlapping
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def existing():
    """The customer prices `outcome` from 2026-03-01 to 2026-05-31."""
    agreement = f.PriceAgreementFactory(
        starts_on=date(2026, 3, 1), ends_on=date(2026, 5, 31), name="Spring deal"
    )
    price = f.PriceFactory(agreement=agreement)
    return agreement, price.outcome_definition


@pytest.mark.parametrize(
    ("starts_on", "ends_on", "overlaps"),
    [
        (date(2026, 1, 1), date(2026, 2, 28), False),  # ends the day before
        (date(2026, 1, 1), date(2026, 3, 1), True),  # ends on its first day
        (date(2026, 5, 31), None, True),  # starts on its last day, no end
        (date(2026, 6, 1), None, False),  # starts the day after
        (date(2025, 1, 1), None, True),  # open-ended, starts before
    ],
)
def test_dates(existing, starts_on, ends_on, overlaps):
    agreement, outcome = existing
    found = agreements_overlapping(
        customer=agreement.customer,
        outcome_definition_ids=[outcome.pk],
        starts_on=starts_on,
        ends_on=ends_on,
    )
    assert found == ({outcome.pk: agreement} if overlaps else {})


def test_other_outcomes_customers_and_the_agreement_itself_do_not_count(existing):
    agreement, outcome = existing
    other_outcome = f.OutcomeDefinitionFactory()
    kwargs = {"starts_on": date(2026, 4, 1), "ends_on": None}
    assert not agreements_overlapping(
        customer=agreement.customer, outcome_definition_ids=[other_outcome.pk], **kwargs
    )
    assert not agreements_overlapping(
        customer=f.CustomerFactory(), outcome_definition_ids=[outcome.pk], **kwargs
    )
    assert not agreements_overlapping(
        customer=agreement.customer,
        outcome_definition_ids=[outcome.pk],
        exclude_pk=agreement.pk,
        **kwargs,
    )
