"""The customer disputes outcomes from the signed statement link: one outcome and a reason
a click, CSRF-protected, within the window; a foreign or forged outcome, a second
dispute, a failure, a void invoice or a closed window are refused and change nothing;
small disputes are accepted at once."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.test import Client
from django.utils import timezone

from billing.disputes import dispute_reject
from billing.models import CreditNote, Dispute, DisputedOutcome
from billing.services import invoice_void, period_close
from billing.statements import statement_token
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


def billed(**kwargs):
    w = World(unit_price=D("5.00"), **kwargs)
    signals = w.signals(3)
    failure = w.signal("broken")
    invoice = period_close(period_id=w.period().pk)
    return w, signals, failure, invoice


def post(client, invoice, signal, reason="The ticket was reopened"):
    return client.post(
        f"/statements/{statement_token(invoice.pk)}/dispute/",
        {"signal": signal.pk if hasattr(signal, "pk") else signal, "reason": reason},
    )


def test_the_statement_lists_charged_outcomes_with_a_dispute_button_and_a_post_opens_one(client):
    _w, signals, failure, invoice = billed()
    page = client.get(f"/statements/{statement_token(invoice.pk)}/").content.decode()
    for s in signals:
        assert f'id="outcome-{s.pk}"' in page
    assert f'id="outcome-{failure.pk}"' not in page  # a failure was never charged
    assert page.count(">Dispute</button>") == 3
    assert not Dispute.objects.exists()  # a read writes nothing

    response = post(client, invoice, signals[1])
    assert response.status_code == 302
    dispute = Dispute.objects.get()
    assert (dispute.state, dispute.source, dispute.invoice_id) == ("open", "statement", invoice.pk)
    assert dispute.reason == "The ticket was reopened" and dispute.opened_by is None
    page = client.get(response.url).content.decode()
    assert f"Dispute {dispute.pk} is open" in page
    assert page.count(">Dispute</button>") == 2 and "Disputed (open)" in page


def test_the_post_needs_the_csrf_token():
    _, signals, _, invoice = billed()
    response = post(Client(enforce_csrf_checks=True), invoice, signals[0])
    assert response.status_code == 403
    assert not Dispute.objects.exists()


def test_an_outcome_of_another_invoice_or_customer_is_refused(client):
    _, signals, _, invoice = billed()
    _, other_signals, _, _other_invoice = billed()
    response = post(client, invoice, other_signals[0])  # a forged form on my link
    assert response.status_code == 400
    assert f"invoice {invoice.number} did not bill this outcome" in response.content.decode()
    response = post(client, invoice, "999999")
    assert response.status_code == 400
    forged = client.post(f"/statements/{invoice.pk}:abc/dispute/", {"signal": signals[0].pk})
    assert forged.status_code == 404
    assert not Dispute.objects.exists()


def test_a_failure_a_second_dispute_and_no_reason_are_refused(client):
    _, signals, failure, invoice = billed()
    response = post(client, invoice, failure)
    assert response.status_code == 400
    assert "was not charged" in response.content.decode()
    assert "reason: say why" in post(client, invoice, signals[0], reason=" ").content.decode()
    post(client, invoice, signals[0])
    first = Dispute.objects.get()
    dispute_reject(dispute_id=first.pk, note="The logs show it resolved")
    response = post(client, invoice, signals[0], reason="again")
    assert response.status_code == 400
    assert f"disputed already (dispute {first.pk}, rejected on" in response.content.decode()
    assert Dispute.objects.count() == 1 and DisputedOutcome.objects.count() == 1


def test_after_the_window_the_buttons_are_gone_and_a_post_says_when_it_closed(client):
    _, signals, _, invoice = billed(agreement_kwargs={"dispute_window_days": 10})
    invoice.issued_at = timezone.now() - timedelta(days=11)
    invoice.save(update_fields=["issued_at"])
    closed = (invoice.issued_at + timedelta(days=10)).strftime("%Y-%m-%d")
    page = client.get(f"/statements/{statement_token(invoice.pk)}/").content.decode()
    assert ">Dispute</button>" not in page and f"closed on {closed}" in page
    response = post(client, invoice, signals[0])
    assert response.status_code == 400
    assert f"dispute window of invoice {invoice.number} closed on {closed}" in (
        response.content.decode()
    )
    assert not Dispute.objects.exists()


def test_a_void_invoice_is_not_disputed(client):
    _, signals, _, invoice = billed()
    invoice_void(invoice_id=invoice.pk, reason="wrong prices")
    response = post(client, invoice, signals[0])
    assert response.status_code == 400 and "is void" in response.content.decode()
    assert not Dispute.objects.exists()


def test_a_dispute_up_to_the_auto_accept_limit_is_accepted_at_once(client):
    _, signals, _, invoice = billed(agreement_kwargs={"dispute_auto_accept_up_to": D("5.00")})
    response = post(client, invoice, signals[0])
    dispute = Dispute.objects.get()
    assert dispute.state == Dispute.State.ACCEPTED and dispute.resolved_by is None
    assert dispute.resolution_note == "accepted automatically up to 5.00 USD per invoice"
    assert dispute.credit_note.net == D("5.00")
    page = client.get(response.url).content.decode()
    assert f"credit note {dispute.credit_note.number} credits it" in page


def test_a_dispute_above_the_auto_accept_limit_waits(client):
    _, signals, _, invoice = billed(agreement_kwargs={"dispute_auto_accept_up_to": D("4.99")})
    post(client, invoice, signals[0])
    assert Dispute.objects.get().state == Dispute.State.OPEN
    assert not CreditNote.objects.exists()


def test_the_auto_accept_limit_is_per_invoice_not_per_click(client):
    # 3 outcomes at 5.00, limit 5.00: the first click is credited at once; the second
    # would take the invoice's automatic credits to 10.00 and waits for a person.
    _, signals, _, invoice = billed(agreement_kwargs={"dispute_auto_accept_up_to": D("5.00")})
    post(client, invoice, signals[0])
    post(client, invoice, signals[1])
    first, second = Dispute.objects.order_by("pk")
    assert (first.state, second.state) == ("accepted", "open")
    assert CreditNote.objects.get().net == D("5.00")


def test_a_refused_automatic_acceptance_leaves_the_dispute_open(client):
    w, signals, _, invoice = billed(agreement_kwargs={"dispute_auto_accept_up_to": D("50.00")})
    w.price.unit_price = D("20.00")  # edited after the invoice: it no longer recomputes
    w.price.save()
    response = post(client, invoice, signals[0])
    assert response.status_code == 302
    dispute = Dispute.objects.get()
    assert dispute.state == Dispute.State.OPEN and not CreditNote.objects.exists()


def test_a_reason_with_a_nul_character_is_refused_with_a_400(client):
    _, signals, _, invoice = billed()
    response = post(client, invoice, signals[0], reason="not\x00done")
    assert response.status_code == 400
    assert "reason:" in response.content.decode()
    assert not Dispute.objects.exists()


def test_your_disputes_names_the_outcome_and_what_was_credited_with_tax(client):
    # 5.00 net at VAT 20%: the credit note is 6.00, of which 5.00 net.
    from tests import factories as f

    vat = f.TaxRateFactory(name="VAT 20%", percent=D(20))
    _, signals, _, invoice = billed(
        agreement_kwargs={"dispute_auto_accept_up_to": D("5.00"), "tax_rate": vat}
    )
    post(client, invoice, signals[0], reason="Reopened")
    page = client.get(f"/statements/{statement_token(invoice.pk)}/").content.decode()
    table = page.split('id="disputes"')[1].split("</table>")[0]
    note = CreditNote.objects.get()
    # the outcome by its reference (the signal's id: the factory sets no idempotency key)
    assert signals[0].idempotency_key is None
    assert f'<td class="wrap">{signals[0].pk}</td>' in table and "Reopened" in table
    assert f"6.00 USD ({note.number}, net 5.00)" in table


def test_a_reason_over_2000_characters_is_refused_and_2000_are_kept(client):
    _, signals, _, invoice = billed()
    response = post(client, invoice, signals[0], reason="x" * 2001)
    assert response.status_code == 400
    assert "reason: at most 2,000 characters, please (this one has 2,001)." in (
        response.content.decode()
    )
    assert not Dispute.objects.exists()

    assert post(client, invoice, signals[0], reason="x" * 2000).status_code == 302
    assert len(Dispute.objects.get().reason) == 2000
