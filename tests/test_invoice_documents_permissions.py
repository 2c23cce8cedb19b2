"""Who gets the invoice's PDF and who may resend it: the admin serves the stored PDF to
every role that views invoices, never to anonymous or a staff user without
view_invoice; Finance alone resends; the statement link serves it with a valid token."""

from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.urls import reverse

from billing.delivery import delivery_send
from billing.documents import invoice_pdf_store
from billing.models import InvoiceDelivery, InvoiceDocument
from billing.services import period_close
from billing.statements import statement_token
from tests.billing_helpers import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice():
    w = World(unit_price=D("4.00"))
    w.signals(2)
    return period_close(period_id=w.period().pk)


def login(client, role):
    if role == "anonymous":
        return None
    user = User.objects.create_user(role.replace(" ", "-"), password="x-123456-y", is_staff=True)
    if role == "staff without view_invoice":
        user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    else:
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


@pytest.mark.parametrize(
    "role,status",
    [
        ("Finance", 200),
        ("Account managers", 200),
        ("Viewers", 200),
        ("staff without view_invoice", 403),
        ("anonymous", 302),  # to the login page
    ],
)
def test_pdf_download_in_the_admin_by_role(client, invoice, role, status):
    document = invoice_pdf_store(invoice.pk)
    login(client, role)
    response = client.get(reverse("admin:billing_invoice_pdf", args=[invoice.pk]))
    assert response.status_code == status
    if status == 200:
        assert response["Content-Type"] == "application/pdf"
        assert response["ETag"] == f'"{document.sha256}"'
        assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
        assert response.content == bytes(document.content)
    else:
        assert b"%PDF" not in response.content


def test_the_invoice_page_shows_the_pdf_hash_and_its_deliveries(client, invoice, mailoutbox):
    document = invoice_pdf_store(invoice.pk)
    delivery_send(delivery_id=InvoiceDelivery.objects.get(invoice=invoice).pk)
    login(client, "Viewers")
    page = client.get(reverse("admin:billing_invoice_change", args=[invoice.pk])).content
    assert document.sha256.encode() in page
    assert invoice.customer.billing_email.encode() in page  # the sent delivery's recipient


def test_a_pdf_not_rendered_yet_is_409_and_the_read_writes_nothing(client, invoice):
    from unittest import mock

    from django.core.cache import cache

    from billing.tasks import render_invoice_pdf

    cache.clear()
    login(client, "Viewers")
    url = reverse("admin:billing_invoice_pdf", args=[invoice.pk])
    with mock.patch.object(render_invoice_pdf, "delay") as queued:
        responses = [client.get(url) for _ in range(5)]
    assert {r.status_code for r in responses} == {409}
    assert responses[0].content.decode() == "The PDF is being rendered; try again in a minute."
    assert not InvoiceDocument.objects.exists()
    queued.assert_called_once_with(invoice.pk, "original")  # five reads, one render queued
    void = client.get(reverse("admin:billing_invoice_pdf_void", args=[invoice.pk]))
    assert void.status_code == 404  # a live invoice has no VOID PDF to render


@pytest.mark.parametrize("role", ["Finance", "Account managers", "Viewers"])
def test_only_finance_resends(client, invoice, role, django_capture_on_commit_callbacks):
    login(client, role)
    url = reverse("admin:billing_invoice_changelist")
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            url, {"action": "resend", "_selected_action": [invoice.pk]}, follow=True
        )
    resends = InvoiceDelivery.objects.filter(invoice=invoice, kind="resend")
    if role == "Finance":
        assert "Queued the e-mail of 1 invoice(s)" in response.content.decode()
        assert resends.get().requested_by.username == "Finance"
        assert len(queued) == 1
    else:
        assert not resends.exists() and queued == []


def test_statement_pdf_with_a_valid_token_and_404_when_forged(client, invoice):
    document = invoice_pdf_store(invoice.pk)
    token = statement_token(invoice.pk)
    statement = client.get(reverse("outcome-statement", args=[token]))
    pdf_url = reverse("statement-invoice-pdf", args=[token])
    assert pdf_url.encode() in statement.content
    response = client.get(pdf_url)
    assert response.status_code == 200 and response.content == bytes(document.content)
    forged = client.get(reverse("statement-invoice-pdf", args=[f"{invoice.pk}:abc:def"]))
    tampered = client.get(reverse("statement-invoice-pdf", args=[token[:-2] + "xx"]))
    assert forged.status_code == tampered.status_code == 404
    assert b"%PDF" not in forged.content + tampered.content


def test_a_double_click_on_resend_queues_one_e_mail(invoice):
    from billing.delivery import invoice_resend

    first = invoice_resend(invoice_id=invoice.pk)
    second = invoice_resend(invoice_id=invoice.pk)
    assert first.pk == second.pk
    assert InvoiceDelivery.objects.filter(invoice=invoice, kind="resend").count() == 1
    delivery_send(delivery_id=first.pk)  # sent: a later resend is a new e-mail
    assert invoice_resend(invoice_id=invoice.pk).pk != first.pk
