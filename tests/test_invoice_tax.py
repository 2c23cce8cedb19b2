"""Tax on invoices, computed by hand: per rate on the net of its lines, rounded half-up to
the minor unit once per rate (not per line); total = net + tax, all stored."""

from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.invoicing import DraftInvoice, DraftLine
from billing.models import Invoice, InvoiceTax, TaxRate
from billing.services import period_close
from billing.taxes import invoice_taxes
from tests import factories as f
from tests.billing_helpers import JAN, World

pytestmark = pytest.mark.django_db


def multi_rate_world(currency, *, unit_a, rate_a, unit_b, rate_b, fee, n_a=7, n_b=3):
    """Outcome A (n_a successes at unit_a) taxed at rate_a by its price; outcome B (n_b at
    unit_b) and the platform fee taxed at rate_b, the agreement's rate."""
    a = f.TaxRateFactory(name=f"A {rate_a}%", percent=D(rate_a))
    b = f.TaxRateFactory(name=f"B {rate_b}%", percent=D(rate_b))
    w = World(
        currency=currency,
        unit_price=D(unit_a),
        tax_rate=a,
        agreement_kwargs={"platform_fee": D(fee), "tax_rate": b},
    )
    filed = f.OutcomeDefinitionFactory(agent=w.agent, name="Filing", event_name="filed")
    f.OutcomeCriterionFactory(definition=filed)
    f.PriceFactory(agreement=w.agreement, outcome_definition=filed, unit_price=D(unit_b))
    w.signals(n_a)
    for _ in range(n_b):
        f.SignalFactory(
            agent=w.agent,
            customer=w.customer,
            event_name="filed",
            occurred_at=JAN,
            data={"status": "ok"},
        )
    return w


def taxes_of(invoice):
    return [(t.name, t.net, t.tax) for t in invoice.taxes.order_by("position")]


def test_usd_multi_rate_invoice_rounds_tax_once_per_rate():
    w = multi_rate_world(
        "USD", unit_a="1.15", rate_a="20", unit_b="0.3333", rate_b="5.5", fee="10.10"
    )
    invoice = period_close(period_id=w.period().pk)
    # Lines: 7 x 1.15 = 8.05 (20%); 3 x 0.3333 = 0.9999 -> 1.00 (5.5%); fee 10.10 (5.5%).
    assert [(line.amount, line.tax_percent) for line in invoice.lines.all()] == [
        (D("8.05"), D("20")),
        (D("1.00"), D("5.5")),
        (D("10.10"), D("5.5")),
    ]
    # 20%: 8.05 x 0.20 = 1.61. 5.5%: (1.00 + 10.10) x 0.055 = 0.6105 -> 0.61 once per
    # rate (per line it would be 0.055 -> 0.06 plus 0.5555 -> 0.56 = 0.62).
    assert taxes_of(invoice) == [
        ("A 20%", D("8.05"), D("1.61")),
        ("B 5.5%", D("11.10"), D("0.61")),
    ]
    assert (invoice.net, invoice.tax, invoice.total) == (D("19.15"), D("2.22"), D("21.37"))


def test_jpy_multi_rate_invoice_has_no_minor_unit():
    w = multi_rate_world(
        "JPY", unit_a="333", rate_a="10", unit_b="65.5", rate_b="8", fee="1006", n_b=2
    )
    invoice = period_close(period_id=w.period().pk)
    # 7 x 333 = 2331 (10%); 2 x 65.5 = 131 (8%); fee 1006 (8%).
    assert [line.amount for line in invoice.lines.all()] == [D(2331), D(131), D(1006)]
    # 10%: 233.1 -> 233. 8%: (131 + 1006) x 0.08 = 90.96 -> 91 (per line: 10.48 -> 10
    # and 80.48 -> 80 = 90).
    assert taxes_of(invoice) == [("A 10%", D(2331), D(233)), ("B 8%", D(1137), D(91))]
    assert (invoice.net, invoice.tax, invoice.total) == (D(3468), D(324), D(3792))


def test_kwd_multi_rate_invoice_has_three_decimals():
    w = multi_rate_world(
        "KWD", unit_a="1.2345", rate_a="5", unit_b="0.3335", rate_b="15", fee="2.0003"
    )
    invoice = period_close(period_id=w.period().pk)
    # 7 x 1.2345 = 8.6415 -> 8.642 (5%); 3 x 0.3335 = 1.0005 -> 1.001 (15%);
    # fee 2.0003 -> 2.000 (15%).
    assert [line.amount for line in invoice.lines.all()] == [
        D("8.642"),
        D("1.001"),
        D("2.000"),
    ]
    # 5%: 8.642 x 0.05 = 0.4321 -> 0.432. 15%: 3.001 x 0.15 = 0.45015 -> 0.450.
    assert taxes_of(invoice) == [
        ("A 5%", D("8.642"), D("0.432")),
        ("B 15%", D("3.001"), D("0.450")),
    ]
    assert (invoice.net, invoice.tax, invoice.total) == (D("11.643"), D("0.882"), D("12.525"))


def test_a_reverse_charge_customer_pays_no_tax_and_the_invoice_says_why():
    note = "Reverse charge: VAT to be accounted for by the recipient."
    reverse = f.TaxRateFactory(
        name="Reverse charge", percent=D(0), treatment="reverse_charge", legal_note=note
    )
    w = World(unit_price=D("2.00"), tax_rate=f.TaxRateFactory())  # the price says 20%
    w.customer.tax_rate = reverse
    w.customer.save()
    w.signals(5)
    invoice = period_close(period_id=w.period().pk)
    assert [line.tax_percent for line in invoice.lines.all()] == [D(0)]
    tax = invoice.taxes.get()
    assert (tax.name, tax.percent, tax.net, tax.tax, tax.legal_note) == (
        "Reverse charge",
        D(0),
        D("10.00"),
        D(0),
        note,
    )
    assert (invoice.net, invoice.tax, invoice.total) == (D("10.00"), D(0), D("10.00"))


def test_the_customer_rate_applies_where_agreement_and_price_set_none():
    w = World(unit_price=D("3.00"))
    w.customer.tax_rate = f.TaxRateFactory(name="Sales tax 8.875%", percent=D("8.875"))
    w.customer.save()
    w.signals(3)
    invoice = period_close(period_id=w.period().pk)
    # 9.00 x 0.08875 = 0.79875 -> 0.80
    assert taxes_of(invoice) == [("Sales tax 8.875%", D("9.00"), D("0.80"))]
    assert invoice.total == D("9.80")


def test_no_rate_anywhere_is_an_invoice_without_tax():
    w = World(unit_price=D("3.00"))
    w.signals(3)
    invoice = period_close(period_id=w.period().pk)
    assert not InvoiceTax.objects.exists()
    assert (invoice.net, invoice.tax, invoice.total) == (D("9.00"), D(0), D("9.00"))


def test_a_rate_edited_later_does_not_change_an_issued_invoice():
    rate = f.TaxRateFactory(name="VAT 20%", percent=D(20))
    w = World(unit_price=D("10.00"), tax_rate=rate)
    w.signals(1)
    invoice = period_close(period_id=w.period().pk)
    TaxRate.objects.filter(pk=rate.pk).update(percent=D(25), name="VAT 25%")
    invoice = Invoice.objects.get(pk=invoice.pk)
    assert taxes_of(invoice) == [("VAT 20%", D("10.00"), D("2.00"))]
    assert invoice.lines.get().tax_percent == D(20)


def test_the_database_refuses_a_total_that_is_not_net_plus_tax():
    from django.db import IntegrityError, transaction

    w = World(unit_price=D("1.00"))
    w.signals(1)
    invoice = period_close(period_id=w.period().pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        Invoice.objects.filter(pk=invoice.pk).update(tax=D("0.01"))


CURRENCIES = {"USD": 2, "JPY": 0, "KWD": 3}


@settings(max_examples=300, deadline=None)
@given(
    currency=st.sampled_from(sorted(CURRENCIES)),
    lines=st.lists(
        st.tuples(
            st.integers(min_value=-(10**9), max_value=10**9),  # in minor units
            st.sampled_from([None, 0, 1, 2]),  # which rate, None: outside tax
        ),
        max_size=12,
    ),
    percents=st.lists(
        st.decimals(min_value=0, max_value=100, places=4, allow_nan=False),
        min_size=3,
        max_size=3,
    ),
)
def test_net_plus_tax_is_the_total_and_each_rate_is_rounded_once(currency, lines, percents):
    places = CURRENCIES[currency]
    rates = [TaxRate(pk=i + 1, name=f"r{i}", percent=p) for i, p in enumerate(percents)]
    drafts = [
        DraftLine(
            kind="outcome",
            description="",
            amount=D(units).scaleb(-places),
            tax_rate=None if which is None else rates[which],
        )
        for units, which in lines
    ]
    draft = DraftInvoice(period=None, currency=currency, lines=drafts)
    draft.taxes = taxes = invoice_taxes(drafts, currency)
    net = sum((line.amount for line in drafts), D(0))
    # Every taxed line is in exactly one rate's net.
    taxed = sum((line.amount for line in drafts if line.tax_rate), D(0))
    assert sum((t.net for t in taxes), D(0)) == taxed
    assert len({t.rate.pk for t in taxes}) == len(taxes)
    for t in taxes:
        # Half-up, computed apart: the exact product, then one rounding to the minor unit.
        exact = t.net * t.rate.percent / 100
        assert t.tax == exact.quantize(D(1).scaleb(-places), rounding=ROUND_HALF_UP)
        assert t.tax.as_tuple().exponent >= -places
        # Rounded once, it is within half a minor unit of the exact tax of its lines.
        exact_lines = sum(
            (line.amount * t.rate.percent / 100 for line in drafts if line.tax_rate is t.rate),
            D(0),
        )
        assert abs(t.tax - exact_lines) <= D(1).scaleb(-places) / 2
    tax = sum((t.tax for t in taxes), D(0))
    assert (draft.net, draft.tax, draft.total) == (net, tax, net + tax)
    assert draft.total == draft.total.quantize(D(1).scaleb(-places))


@pytest.mark.parametrize(
    ("net", "tax"), [("104.10", "5.82"), ("53.44", "3.19"), ("54.59", "3.42"), ("19.15", "2.22")]
)
def test_the_total_check_accepts_sums_that_floats_add_inexactly(net, tax):
    # SQLite keeps decimals as floats: 104.10 + 5.82 = 109.91999999999999 there.
    w = World(unit_price=D("1.00"))
    w.signals(1)
    invoice = period_close(period_id=w.period().pk)
    total = D(net) + D(tax)
    Invoice.objects.filter(pk=invoice.pk).update(net=D(net), tax=D(tax), total=total)
    assert Invoice.objects.get(pk=invoice.pk).total == total


def test_a_spend_cap_discount_is_taxed_at_the_rate_of_the_charges_it_caps():
    vat = f.TaxRateFactory(name="VAT 20%", percent=D(20))
    w = World(unit_price=D(100), tax_rate=vat, agreement_kwargs={"spend_cap": D(1000)})
    w.signals(15)
    invoice = period_close(period_id=w.period().pk)
    # 15 x 100 = 1,500 at 20%, capped at 1,000: the -500 discount is at 20% too.
    assert [(line.amount, line.tax_percent) for line in invoice.lines.all()] == [
        (D(1500), D(20)),
        (D(-500), D(20)),
    ]
    assert taxes_of(invoice) == [("VAT 20%", D(1000), D(200))]
    assert (invoice.net, invoice.tax, invoice.total) == (D(1000), D(200), D(1200))


def test_a_spend_cap_over_two_rates_is_shared_in_proportion():
    w = multi_rate_world(
        "USD", unit_a="100", rate_a="20", unit_b="100", rate_b="5", fee="0", n_a=6, n_b=9
    )
    w.agreement.spend_cap = D(1000)
    w.agreement.save()
    invoice = period_close(period_id=w.period().pk)
    # A: 6 x 100 = 600 at 20%; B: 9 x 100 = 900 at 5%; capped at 1,000: -500 shared
    # 600/1,500 -> -200.00 at 20%, the rest -300.00 at 5%.
    assert [(line.kind, line.amount, line.tax_percent) for line in invoice.lines.all()] == [
        ("outcome", D(600), D(20)),
        ("outcome", D(900), D(5)),
        ("cap_discount", D(-200), D(20)),
        ("cap_discount", D(-300), D(5)),
    ]
    # 20%: 400 -> 80; 5%: 600 -> 30.
    assert taxes_of(invoice) == [("A 20%", D(400), D(80)), ("B 5%", D(600), D(30))]
    assert (invoice.net, invoice.tax, invoice.total) == (D(1000), D(110), D(1110))


def test_the_statement_and_the_upcoming_invoice_show_net_and_tax_before_the_total(
    client, admin_client
):
    from django.urls import reverse

    from billing.statements import statement_token

    w = World(unit_price=D("10.00"), tax_rate=f.TaxRateFactory(name="VAT 20%", percent=D(20)))
    w.signals(3)
    invoice = period_close(period_id=w.period().pk)
    page = client.get(reverse("outcome-statement", args=[statement_token(invoice.pk)]))
    text = page.content.decode()
    assert 'id="statement-net">30.00 USD' in text
    assert 'VAT 20% on 30.00</th><th class="num">6.00 USD' in text
    assert 'id="statement-total">36.00 USD' in text
    # The open period's upcoming invoice on the agreement page: 2 more signals, now.
    from django.utils import timezone

    from billing.periods import period_current

    w.agreement.ends_on = None
    w.agreement.save()
    current = period_current(agreement=w.agreement, now=timezone.now())
    for _ in range(2):
        w.signal(at=current.starts_at)
    url = reverse("admin:billing_priceagreement_change", args=[w.agreement.pk])
    upcoming = admin_client.get(url).content.decode()
    assert "<tr><th>Net</th><th style='text-align:right;white-space:nowrap'>20.00 USD" in upcoming
    assert "<tr><th>VAT 20% on 20.00</th>" in upcoming and "4.00 USD" in upcoming
    assert "24.00 USD" in upcoming
