"""The account manager changes the price of an agreement that has billed, on its page:
the change is saved as a version from the next period start (or a later one chosen),
the periods before keep their prices, and the versions show on a timeline. Adding an
outcome, a date no longer open, or a Viewer's post: refused, nothing saved."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from billing.models import AgreementVersion, Price, SavedSimulation
from billing.periods import period_current
from billing.services import invoice_preview, period_close
from billing.version_changes import boundaries_open
from tests import factories as f
from tests.billing_helpers import World
from tests.form_scrape import form_values

pytestmark = pytest.mark.django_db


def login(client, group):
    user = User.objects.create_user(f"u-{group}", password="pw-123456-x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


@pytest.fixture
def billed():
    w = World(unit_price=D("5.00"))
    w.signals(3)
    period_close(period_id=w.period().pk, now=datetime(2026, 2, 2, tzinfo=UTC))
    return w


def change_url(w):
    return f"/admin/billing/priceagreement/{w.agreement.pk}/change/"


def page_values(client, w):
    page = client.get(change_url(w))
    assert page.status_code == 200
    return form_values(page.content.decode(), "priceagreement_form")


def test_a_new_price_is_saved_as_a_version_from_the_next_period(client, billed):
    user = login(client, "Account managers")
    starts = boundaries_open(billed.agreement, timezone.now(), count=2)
    data = page_values(client, billed)
    assert data["effective_from"] == starts[0].isoformat()  # the next period by default
    data["prices-0-unit_price"] = "6.00"
    data["platform_fee"] = "10"
    response = client.post(change_url(billed), data, follow=True)
    text = response.content.decode()
    assert f"Saved as version 2: these terms take effect on {starts[0]:%Y-%m-%d}" in text
    versions = list(AgreementVersion.objects.order_by("number"))
    assert [(v.number, v.source, v.created_by) for v in versions] == [
        (1, "original", user),
        (2, "admin", user),
    ]
    assert versions[1].effective_from == starts[0]
    assert Price.objects.get(pk=billed.price.pk).unit_price == D("6.00")
    # This period still bills at 5.00 and no fee, whatever the page now shows.
    billed.signals(2, at=timezone.now())
    current = period_current(agreement=billed.agreement, now=timezone.now())
    preview = invoice_preview(period=current)
    kinds = [(line.kind, line.amount) for line in preview.lines]
    assert kinds == [("outcome", D("10.00"))]
    page = client.get(change_url(billed)).content.decode()
    timeline = page[page.index('id="agreement-versions"') :]
    assert "Version 1</strong> from 2026-01-01 until" in timeline
    assert "<em>in effect</em>, 1 period invoiced" in timeline
    assert f"Version 2</strong> from {starts[0]:%Y-%m-%d} onwards — <em>scheduled</em>" in timeline
    assert "fee 10.00 · Outcome" in timeline and "per outcome 6.00" in timeline


def test_a_later_period_may_be_chosen(client, billed):
    login(client, "Finance")
    later = boundaries_open(billed.agreement, timezone.now(), count=3)[2]
    data = page_values(client, billed)
    data |= {"prices-0-unit_price": "7.00", "effective_from": later.isoformat()}
    client.post(change_url(billed), data)
    assert AgreementVersion.objects.get(number=2).effective_from == later


def test_a_name_change_is_no_version(client, billed):
    login(client, "Account managers")
    data = page_values(client, billed) | {"name": "Renamed"}
    assert client.post(change_url(billed), data).status_code == 302
    assert not AgreementVersion.objects.exists()


def test_refused_changes_say_why_and_save_nothing(client, billed):
    login(client, "Account managers")
    data = page_values(client, billed) | {"prices-0-unit_price": "6.00"}
    begun = data | {"effective_from": "2026-02-01T00:00:00+00:00"}
    answer = client.post(change_url(billed), begun).content.decode()
    assert "Select a valid choice" in answer
    other = f.OutcomeDefinitionFactory(agent=billed.agent)
    added = data | {"prices-TOTAL_FORMS": "2", "prices-1-outcome_definition": other.pk}
    added |= {"prices-1-model": "per_outcome", "prices-1-unit_price": "1"}
    added |= {"prices-1-included_quantity": "0", "prices-1-tiers-TOTAL_FORMS": "0"}
    added |= {"prices-1-tiers-INITIAL_FORMS": "0", "prices-1-tiers-MIN_NUM_FORMS": "0"}
    added |= {"prices-1-tiers-MAX_NUM_FORMS": "1000"}
    answer = client.post(change_url(billed), added).content.decode()
    assert "each of its versions prices the same outcomes" in answer
    assert not AgreementVersion.objects.exists()
    assert Price.objects.get(pk=billed.price.pk).unit_price == D("5.00")
    assert Price.objects.count() == 1


def test_a_viewer_cannot_change_prices(client, billed):
    login(client, "Viewers")
    page = client.get(change_url(billed)).content.decode()
    assert 'name="effective_from"' not in page
    data = {"name": "x", "prices-0-unit_price": "9"}
    assert client.post(change_url(billed), data).status_code == 403
    assert not AgreementVersion.objects.exists()


def test_an_agreement_not_billed_is_edited_directly(client):
    login(client, "Account managers")
    w = World(unit_price=D("5.00"))
    page = client.get(change_url(w)).content.decode()
    assert 'name="effective_from"' not in page
    assert "One set of terms so far" in page
    data = form_values(page, "priceagreement_form") | {"prices-0-unit_price": "6.00"}
    assert client.post(change_url(w), data).status_code == 302
    assert Price.objects.get(pk=w.price.pk).unit_price == D("6.00")
    assert not AgreementVersion.objects.exists()


def lab(w, unit_price="5.00"):
    period = w.period().pk
    data = {"run": "1", "first": period, "last": period, "platform_fee": "0"}
    data |= {"minimum_commitment": "0", "spend_cap": ""}
    price = {"model": "per_outcome", "unit_price": unit_price, "tiers": ""}
    price |= {"included_quantity": "0", "percent_of_value": "", "value_field": ""}
    price |= {"markup_percent": ""}
    data |= {f"price-{w.price.pk}-{k}": v for k, v in price.items()}
    return f"/admin/billing/priceagreement/{w.agreement.pk}/simulate/?" + urlencode(data)


def test_a_simulation_is_applied_as_the_next_version(client, billed):
    user = login(client, "Account managers")
    page = client.get(lab(billed, "6.00")).content.decode()
    assert "Apply as a new version" in page and "18.00" in page  # 3 x 6.00 simulated
    start = boundaries_open(billed.agreement, timezone.now())[0]
    response = client.post(lab(billed, "6.00"), {"effective_from": start.isoformat()})
    assert response.status_code == 302
    assert response["Location"] == change_url(billed)
    version = AgreementVersion.objects.get(number=2)
    assert (version.source, version.created_by, version.effective_from) == (
        "simulation",
        user,
        start,
    )
    assert D(version.terms["prices"][str(billed.outcome.pk)]["unit_price"]) == D("6.00")
    assert Price.objects.get(pk=billed.price.pk).unit_price == D("6.00")
    page = client.get(change_url(billed)).content.decode()
    assert "Applied from the pricing lab (pricing lab) by u-Account managers" in page


def test_applying_nothing_new_or_a_date_not_offered_is_refused(client, billed):
    login(client, "Finance")
    start = boundaries_open(billed.agreement, timezone.now())[0]
    same = client.post(lab(billed), {"effective_from": start.isoformat()}).content.decode()
    assert "These are the agreement&#x27;s terms already: there is nothing to apply." in same
    bad = {"effective_from": "2026-02-01T00:00:00+00:00"}
    answer = client.post(lab(billed, "6.00"), bad).content.decode()
    assert "Choose one of the period starts offered for the new version." in answer
    assert not AgreementVersion.objects.exists()


def test_a_viewer_simulates_but_cannot_apply(client, billed):
    login(client, "Viewers")
    page = client.get(lab(billed, "6.00")).content.decode()
    assert "18.00" in page and "Apply as a new version" not in page
    start = boundaries_open(billed.agreement, timezone.now())[0]
    assert (
        client.post(lab(billed, "6.00"), {"effective_from": start.isoformat()}).status_code == 403
    )
    assert not AgreementVersion.objects.exists()


def test_a_simulation_is_saved_listed_and_re_run(client, billed):
    user = login(client, "Account managers")
    response = client.post(lab(billed, "6.00"), {"action": "save", "name": "Six dollars"})
    assert response.status_code == 302
    saved = SavedSimulation.objects.get()
    assert (saved.name, saved.created_by, saved.agreement) == (
        "Six dollars",
        user,
        billed.agreement,
    )
    assert saved.results["totals"]["simulated"] == "18.00"
    assert saved.results["rows"][0]["invoice"] == billed.period().invoices.get().number
    assert saved.parameters[f"price-{billed.price.pk}-unit_price"] == "6.00"
    assert not AgreementVersion.objects.exists()  # saving is not applying
    page = client.get(response["Location"]).content.decode()
    listing = page[page.index('id="saved-table"') :]
    assert "Six dollars" in listing and "+3.00" in listing and "Re-run" in listing
    assert 'id="lab-table"' in page and "18.00" in page  # the link runs it again
    agreement_page = client.get(change_url(billed)).content.decode()
    assert "Saved simulations (re-run)" in agreement_page and "Six dollars" in agreement_page
    unnamed = client.post(lab(billed, "6.00"), {"action": "save", "name": " "})
    assert "Name the simulation to save it" in unnamed.content.decode()
    assert SavedSimulation.objects.count() == 1


def test_a_viewer_sees_saved_simulations_but_cannot_save(client, billed):
    login(client, "Viewers")
    page = client.get(lab(billed, "6.00")).content.decode()
    assert 'id="save-form"' not in page and "None yet." in page
    answer = client.post(lab(billed, "6.00"), {"action": "save", "name": "x"})
    assert answer.status_code == 403
    assert not SavedSimulation.objects.exists()


def test_a_billed_agreements_customer_currency_start_and_cadence_are_fixed(client, billed):
    login(client, "Account managers")
    page = client.get(change_url(billed)).content.decode()
    for name in ("customer", "currency", "starts_on", "cadence"):
        assert f'name="{name}"' not in page  # shown, not editable
    data = page_values(client, billed)
    # Sent anyway (a crafted request): ignored, the rest is saved.
    forged = data | {"currency": "EUR", "starts_on": "2026-01-15", "cadence": "annual"}
    assert client.post(change_url(billed), forged | {"name": "Renamed"}).status_code == 302
    billed.agreement.refresh_from_db()
    assert billed.agreement.name == "Renamed"
    assert (billed.agreement.currency, billed.agreement.cadence) == ("USD", "monthly")
    assert f"{billed.agreement.starts_on:%Y-%m-%d}" == "2026-01-01"


def test_a_billed_agreement_ends_no_earlier_than_what_it_invoiced(client, billed):
    login(client, "Account managers")
    data = page_values(client, billed)
    response = client.post(change_url(billed), data | {"ends_on": "2026-01-20"})
    assert response.status_code == 200
    text = "A period up to 2026-01-31 was invoiced: the agreement ends no earlier than"
    assert text in response.content.decode()
    billed.agreement.refresh_from_db()
    assert billed.agreement.ends_on is None
    # The last invoiced day itself is allowed.
    assert client.post(change_url(billed), data | {"ends_on": "2026-01-31"}).status_code == 302
    billed.agreement.refresh_from_db()
    assert f"{billed.agreement.ends_on:%Y-%m-%d}" == "2026-01-31"


def test_an_unbilled_agreements_dates_and_cadence_stay_editable(client):
    login(client, "Account managers")
    w = World(unit_price=D("5.00"))
    page = client.get(change_url(w)).content.decode()
    for name in ("customer", "currency", "starts_on", "cadence"):
        assert f'name="{name}"' in page


def test_an_earlier_end_cuts_the_open_period_it_falls_in(client, billed):
    login(client, "Account managers")
    data = page_values(client, billed) | {"ends_on": "2026-02-14"}
    assert client.post(change_url(billed), data).status_code == 302
    # January stays as invoiced; February now ends with the agreement (end exclusive).
    ends = [
        (f"{p.starts_at:%m-%d}", f"{p.ends_at:%m-%d}")
        for p in billed.agreement.periods.order_by("starts_at")
    ]
    assert ends == [("01-01", "02-01"), ("02-01", "02-15")]


def test_an_unbilled_agreements_new_cadence_replaces_its_periods(client):
    login(client, "Account managers")
    w = World(unit_price=D("5.00"))
    page = client.get(change_url(w)).content.decode()
    data = form_values(page, "priceagreement_form") | {"cadence": "quarterly"}
    assert client.post(change_url(w), data).status_code == 302
    starts = [f"{p.starts_at:%Y-%m-%d}" for p in w.agreement.periods.order_by("starts_at")]
    ends = [f"{p.ends_at:%Y-%m-%d}" for p in w.agreement.periods.order_by("starts_at")]
    # Quarters only: no monthly period left beside them.
    assert starts[:2] == ["2026-01-01", "2026-04-01"] and ends[0] == "2026-04-01"
    assert len(set(starts)) == len(starts)


def test_a_billed_agreement_is_not_reverted_from_its_history(client, billed):
    login(client, "Account managers")
    record = billed.agreement.history.order_by("history_id").first()
    url = f"/admin/billing/priceagreement/{billed.agreement.pk}/history/{record.history_id}/"
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    data = page_values(client, billed) | {"platform_fee": "999"}
    assert client.post(url, data).status_code == 403
    billed.agreement.refresh_from_db()
    assert billed.agreement.platform_fee != D("999")


def test_an_end_before_a_scheduled_version_is_refused(client, billed):
    login(client, "Account managers")
    later = boundaries_open(billed.agreement, timezone.now(), count=3)[2]
    data = page_values(client, billed)
    client.post(
        change_url(billed),
        data | {"prices-0-unit_price": "7.00", "effective_from": later.isoformat()},
    )
    version = AgreementVersion.objects.get(number=2)
    assert version.effective_from == later
    data = page_values(client, billed)
    early = (later.date().replace(day=1) - timedelta(days=1)).isoformat()
    response = client.post(change_url(billed), data | {"ends_on": early})
    assert response.status_code == 200
    text = f"Version 2 takes effect on {later:%Y-%m-%d}, after this end: it would never bill."
    assert text in response.content.decode()
    billed.agreement.refresh_from_db()
    assert billed.agreement.ends_on is None
