"""A credit note's PDF: what it prints (hand-computed), stored once with its SHA-256,
never rendered by a read; served from the admin to who views invoices, and from the
invoice's statement link behind the same signed token."""

import hashlib
from decimal import Decimal as D
from unittest import mock

import pytest
from django.core import signing
from django.urls import reverse

from billing.documents import credit_note_pdf_store
from billing.models import CreditNoteDocument
from billing.statements import statement_token
from tests.credit_note_helpers import credited_outcome_line
from tests.mail_helpers import pdf_text
from tests.receivables_helpers import staff

pytestmark = pytest.mark.django_db


def test_the_pdf_prints_the_credit_note_its_invoice_lines_taxes_and_totals():
    w, invoice, note = credited_outcome_line()
    assert (note.net, note.tax, note.total) == (D("2.74"), D("0.55"), D("3.29"))
    text = pdf_text(bytes(credit_note_pdf_store(note.pk).content))
    for expected in (
        f"Credit note {note.number}",
        f"Credit note for invoice {invoice.number}",
        "Outcome Agents Ltd",  # the seller, as snapshotted
        "GB980780684",
        "Acme Buyer GmbH",  # the buyer, as snapshotted
        "DE136695976",
        "Reason: Two documents were processed twice",
        f"{w.outcome.name}: 3 successes; 3 billable (per outcome) 20% 2.74",
        "VAT 20% 20% 2.74 0.55",  # tax reversed per rate: name, rate, net, tax
        "Net credited 2.74 USD",
        "Tax credited 0.55 USD",
        "Total credited 3.29 USD",
    ):
        assert expected in text, expected
    assert "Reduced 5%" not in text  # the fee was not credited


def test_rendering_twice_keeps_one_row_and_the_first_bytes():
    _, _, note = credited_outcome_line()
    first = credit_note_pdf_store(note.pk)
    again = credit_note_pdf_store(note.pk)
    assert again.pk == first.pk and CreditNoteDocument.objects.count() == 1
    stored = bytes(CreditNoteDocument.objects.get().content)
    assert stored.startswith(b"%PDF") and first.sha256 == hashlib.sha256(stored).hexdigest()
    assert first.size == len(stored)


def test_a_read_never_renders_it_queues_one_render(client):
    _, _, note = credited_outcome_line()
    client.force_login(staff("Finance"))
    url = reverse("admin:billing_creditnote_pdf", args=[note.pk])
    with mock.patch("billing.tasks.render_credit_note_pdf.delay") as queued:
        first = client.get(url)
        second = client.get(url)
    assert first.status_code == second.status_code == 409
    assert first["Retry-After"] == "60"
    assert queued.call_count == 1  # once a minute, however often it is opened
    assert not CreditNoteDocument.objects.exists()


def test_the_admin_serves_the_stored_pdf_with_its_etag(client):
    _, _, note = credited_outcome_line()
    document = credit_note_pdf_store(note.pk)
    client.force_login(staff("Account managers"))
    url = reverse("admin:billing_creditnote_pdf", args=[note.pk])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content == bytes(document.content)
    assert response["ETag"] == f'"{document.sha256}"'
    assert f"{note.number}.pdf" in response["Content-Disposition"]
    assert client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


@pytest.mark.parametrize("role", ["Viewers", "plain staff", "anonymous"])
def test_who_does_not_view_credit_notes_gets_no_pdf(client, role):
    _, _, note = credited_outcome_line()
    credit_note_pdf_store(note.pk)
    if role == "plain staff":
        from django.contrib.auth.models import User

        client.force_login(User.objects.create_user("plain", password="x-1", is_staff=True))
    elif role != "anonymous":
        client.force_login(staff(role))
    response = client.get(reverse("admin:billing_creditnote_pdf", args=[note.pk]))
    assert response.status_code in (302, 403)
    assert b"%PDF" not in response.content


def test_the_statement_lists_the_credit_notes_and_serves_their_pdfs(client):
    _, invoice, note = credited_outcome_line()
    document = credit_note_pdf_store(note.pk)
    token = statement_token(invoice.pk)
    page = client.get(reverse("outcome-statement", args=[token])).content.decode()
    assert note.number in page and "Two documents were processed twice" in page
    assert "3.29 USD" in page and "211.63 USD" in page  # credited; still due
    pdf_url = reverse("statement-credit-note-pdf", args=[token, note.pk])
    assert pdf_url in page
    response = client.get(pdf_url)
    assert response.status_code == 200 and response.content == bytes(document.content)


def test_a_forged_expired_or_foreign_statement_link_gets_no_credit_note(client, settings):
    _, invoice, note = credited_outcome_line()
    credit_note_pdf_store(note.pk)
    token = statement_token(invoice.pk)
    forged = client.get(reverse("statement-credit-note-pdf", args=[f"{invoice.pk}:a:b", note.pk]))
    assert forged.status_code == 404 and b"%PDF" not in forged.content
    _, other, _ = credited_outcome_line()
    foreign = client.get(
        reverse("statement-credit-note-pdf", args=[statement_token(other.pk), note.pk])
    )
    assert foreign.status_code == 404 and b"%PDF" not in foreign.content
    settings.STATEMENT_LINK_DAYS = 1
    later = signing.time.time() + 2 * 86400
    with mock.patch("django.core.signing.time.time", return_value=later):
        expired = client.get(reverse("statement-credit-note-pdf", args=[token, note.pk]))
    assert expired.status_code == 410 and b"%PDF" not in expired.content
