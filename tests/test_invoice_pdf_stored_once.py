"""An invoice's PDF is stored once with its SHA-256; voiding adds a watermarked VOID
rendering and keeps the original; legacy invoices (no snapshots) still render."""

import hashlib
from decimal import Decimal as D

import pytest

from billing.documents import invoice_html, invoice_pdf_store
from billing.models import InvoiceDocument
from billing.services import invoice_void, period_close
from tests.billing_helpers import World
from tests.mail_helpers import pdf_text

pytestmark = pytest.mark.django_db


def issued():
    w = World(unit_price=D("2.50"))
    w.signals(2)
    return period_close(period_id=w.period().pk)


def test_rendering_twice_keeps_the_first_bytes_and_their_hash():
    invoice = issued()
    first = invoice_pdf_store(invoice.pk)
    again = invoice_pdf_store(invoice.pk)
    assert again.pk == first.pk and InvoiceDocument.objects.count() == 1
    stored = bytes(InvoiceDocument.objects.get().content)
    assert stored.startswith(b"%PDF") and bytes(again.content) == stored
    assert first.sha256 == hashlib.sha256(stored).hexdigest() and first.size == len(stored)
    assert "Total 5.00 USD" in pdf_text(stored)


def test_void_adds_a_watermarked_pdf_and_keeps_the_original(django_capture_on_commit_callbacks):
    invoice = issued()
    original = invoice_pdf_store(invoice.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        invoice_void(invoice_id=invoice.pk, reason="Wrong customer address")
    assert callbacks  # invoice_voided queues the VOID rendering after commit
    void = invoice_pdf_store(invoice.pk, InvoiceDocument.Variant.VOID)
    text = pdf_text(bytes(void.content))
    assert "VOID" in text and "Wrong customer address" in text
    original.refresh_from_db()
    assert "VOID" not in pdf_text(bytes(original.content))
    assert original.sha256 == hashlib.sha256(bytes(original.content)).hexdigest()
    assert void.sha256 != original.sha256
    assert InvoiceDocument.objects.filter(invoice=invoice).count() == 2


def test_an_issued_invoice_has_no_void_pdf():
    invoice = issued()
    with pytest.raises(Exception, match="is not void"):
        invoice_pdf_store(invoice.pk, InvoiceDocument.Variant.VOID)
    assert not InvoiceDocument.objects.exists()


def test_the_invoice_prints_its_snapshot_not_todays_profile():
    invoice = issued()
    from billing.models import SellerProfile

    SellerProfile.objects.update(legal_name="Renamed Later plc")
    assert "Outcome Agents Ltd" in invoice_html(invoice)
    assert "Renamed Later plc" not in invoice_html(invoice)


def test_a_legacy_invoice_without_snapshots_still_renders():
    invoice = issued()
    type(invoice).objects.filter(pk=invoice.pk).update(seller={}, buyer={})
    invoice.refresh_from_db()
    text = pdf_text(bytes(invoice_pdf_store(invoice.pk).content))
    assert invoice.number in text and "Tax id: —" in text and "Total 5.00 USD" in text


def test_the_seller_logo_is_embedded_not_fetched():
    import base64

    from billing.models import SellerProfile

    # A 1x1 PNG.
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    SellerProfile.objects.update(logo=png, logo_type="image/png")
    invoice = issued()
    html = invoice_html(invoice)
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in html
    assert "http" not in html.split("<body>")[1]  # nothing for the renderer to fetch
    assert bytes(invoice_pdf_store(invoice.pk).content).startswith(b"%PDF")
