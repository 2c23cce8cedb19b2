"""Disputes in the admin, by role: account managers open them (from the signals list);
Finance accepts or rejects them (POST); viewers only read; the
agreement shows its window and auto-accept limit; an invoice lists its disputes."""

from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from billing.disputes import dispute_accept, dispute_open
from billing.margins import margin_figures_refresh
from billing.models import CreditNote, Dispute
from billing.services import period_close
from tests import factories as f
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    w = World(unit_price=D("5.00"))
    w.signals_billed = w.signals(3)
    w.invoice = period_close(period_id=w.period().pk)
    return w


def login(client, role):
    user = User.objects.create_user(role.replace(" ", "-"), password="x-123456-y", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def opened(w, signal=None):
    signal = signal or w.signals_billed[0]
    return dispute_open(customer_id=w.customer.pk, signal_ids=[signal.pk], reason="not done")


@pytest.mark.parametrize(
    "role,may_resolve", [("Finance", True), ("Account managers", False), ("Viewers", False)]
)
def test_accepting_by_role(client, world, role, may_resolve):
    d = opened(world)
    login(client, role)
    page = client.get(reverse("admin:billing_dispute_change", args=[d.pk])).content.decode()
    assert ("accept-dispute" in page) is may_resolve
    response = client.post(
        reverse("admin:billing_dispute_resolve", args=[d.pk]), {"accept": "1", "note": "ok"}
    )
    d.refresh_from_db()
    if may_resolve:
        assert response.status_code == 302
        assert d.state == Dispute.State.ACCEPTED and d.resolved_by.username == role.replace(
            " ", "-"
        )
        assert d.credit_note.net == D("5.00")
        assert "credit note 5.00 USD" in client.get(response.url).content.decode()
    else:
        assert response.status_code == 403
        assert d.state == Dispute.State.OPEN and not CreditNote.objects.exists()


def test_rejecting_needs_a_note_and_keeps_the_outcomes_billed(client, world):
    d = opened(world)
    login(client, "Finance")
    url = reverse("admin:billing_dispute_resolve", args=[d.pk])
    page = client.get(client.post(url, {"reject": "1", "note": " "}).url).content.decode()
    assert "Note: say why the dispute is rejected" in page
    d.refresh_from_db()
    assert d.state == Dispute.State.OPEN
    client.post(url, {"reject": "1", "note": "resolved per the logs"})
    d.refresh_from_db()
    assert (d.state, d.resolution_note, d.credit_note) == (
        "rejected",
        "resolved per the logs",
        None,
    )
    assert client.get(url).status_code == 405  # a read never resolves


@pytest.mark.parametrize("role,status", [("Account managers", 200), ("Finance", 403)])
def test_opening_a_dispute_by_role(client, world, role, status):
    login(client, role)
    signal = world.signals_billed[1]
    url = reverse("admin:billing_dispute_add")
    assert client.get(url).status_code == status
    response = client.post(
        url,
        {"customer": world.customer.external_id, "signals": str(signal.pk), "reason": "dup"},
    )
    assert response.status_code == (302 if status == 200 else 403)
    assert Dispute.objects.filter(outcomes__signal=signal).exists() is (status == 200)


def test_opening_refuses_a_signal_of_another_customer_at_the_field(client, world):
    other = World(unit_price=D("1.00"))
    foreign = other.signal()
    login(client, "Account managers")
    response = client.post(
        reverse("admin:billing_dispute_add"),
        {"customer": world.customer.external_id, "signals": str(foreign.pk), "reason": "x"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {
        "signals": [f"signal {foreign.pk} is not an outcome of this customer."]
    }
    assert not Dispute.objects.exists()


def test_the_signals_action_fills_in_the_dispute_form(client, world):
    login(client, "Account managers")
    picked = world.signals_billed[:2]
    response = client.post(
        reverse("admin:agents_signal_changelist"),
        {"action": "dispute_selected", "_selected_action": [s.pk for s in picked]},
    )
    assert response.status_code == 302 and "signals=" in response.url
    form = client.get(response.url).context["form"]
    assert form.initial["customer"] == world.customer.external_id
    assert form.initial["signals"] == ", ".join(str(s.pk) for s in picked)


def test_the_list_the_invoice_and_the_agreement_show_disputes(client, world):
    d = opened(world)
    login(client, "Viewers")
    listing = client.get(reverse("admin:billing_dispute_changelist")).content.decode()
    assert world.invoice.number in listing and world.customer.name in listing
    invoice_page = client.get(
        reverse("admin:billing_invoice_change", args=[world.invoice.pk])
    ).content.decode()
    assert f"Dispute {d.pk}" in invoice_page
    login(client, "Account managers")
    agreement_page = client.get(
        reverse("admin:billing_priceagreement_change", args=[world.agreement.pk])
    ).content.decode()
    assert "dispute_window_days" in agreement_page
    assert "dispute_auto_accept_up_to" in agreement_page


def test_the_margin_dashboard_shows_disputed_outcomes_and_their_cost(client, world):
    f.CostFactory(
        agent=world.agent, customer=world.customer, signal=world.signals_billed[0], amount=D("1.5")
    )
    margin_figures_refresh(invoice_id=world.invoice.pk)  # the cost reached the outcome late
    dispute_accept(dispute_id=opened(world).pk)
    login(client, "Account managers")
    page = client.get(reverse("admin:billing_marginfigure_changelist")).content.decode()
    row = page.split('id="table-agents"')[1].split("</tr>")[1]
    # revenue 15.00 - 5.00 credited = 10.00; cost 1.50, all of it the disputed outcome's
    assert "<td>" + world.agent.name + "</td>" in row
    cells = [c.split("<")[0] for c in row.split('class="num"')[1:]]
    cells = [c.lstrip(">") for c in cells]
    assert cells[:3] == ["10.00", "1.50", "8.50"]
    assert cells[-2:] == ["1", "1.50"]


def test_a_note_with_a_nul_character_is_refused_and_changes_nothing(client, world):
    d = opened(world)
    login(client, "Finance")
    url = reverse("admin:billing_dispute_resolve", args=[d.pk])
    for button in ("accept", "reject"):
        response = client.post(url, {button: "1", "note": "ok\x00"})
        page = client.get(response.url).content.decode()
        assert "Note: remove the NUL character from the text." in page
    d.refresh_from_db()
    assert d.state == Dispute.State.OPEN and not CreditNote.objects.exists()
