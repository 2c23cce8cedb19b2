"""An issued invoice or credit note as a document: the printable page and its PDF,
stored once.

What a document prints of seller and buyer comes from its own snapshots (taken at
issue), never from today's profile or customer; only the seller's logo is read at render
time. The PDF is rendered offline: WeasyPrint may fetch nothing but `data:` URLs.
"""

import base64
import hashlib
import logging

from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from billing.models import (
    CreditNote,
    CreditNoteDocument,
    Invoice,
    InvoiceDocument,
    InvoiceLine,
    SellerProfile,
)

logger = logging.getLogger(__name__)

# Lines that bill a number of outcomes show it; fees and true-ups do not.
COUNTED_KINDS = (InvoiceLine.Kind.OUTCOME, InvoiceLine.Kind.ADJUSTMENT)


class PdfRenderError(Exception):
    """The PDF of an invoice or credit note could not be rendered (nothing was stored)."""


def _logo_data_uri() -> str:
    seller = SellerProfile.current()
    if not seller.logo or not seller.logo_type:
        return ""
    return f"data:{seller.logo_type};base64,{base64.b64encode(bytes(seller.logo)).decode()}"


def invoice_context(invoice: Invoice, *, void: bool | None = None) -> dict:
    """What the printable template needs. `void` defaults to the invoice's state (the
    admin's page); the stored original PDF is rendered with void=False."""
    if void is None:
        void = invoice.status == Invoice.Status.VOID
    return {
        "invoice": invoice,
        "seller": invoice.seller or {},
        "buyer": invoice.buyer or {},
        "lines": invoice.lines.all(),
        "taxes": invoice.taxes.all(),
        "logo": _logo_data_uri(),
        "void": void,
        "counted_kinds": COUNTED_KINDS,
    }


def invoice_html(invoice: Invoice, *, void: bool | None = None) -> str:
    return render_to_string("billing/invoice.html", invoice_context(invoice, void=void))


def _pdf_render(html: str, what: str) -> bytes:
    """The PDF (A4) of a printable page. Raises PdfRenderError, saying what failed, if
    WeasyPrint cannot render it."""
    # Imported here: WeasyPrint loads Pango at import, which the web process rarely needs.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    try:
        # Offline by construction: anything but an embedded data: URL is refused.
        fetcher = URLFetcher(allowed_protocols=("data",))
        return HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()
    except Exception as exc:
        raise PdfRenderError(
            f"PDF of {what}: could not be rendered: {type(exc).__name__}: {exc}"
        ) from exc


def invoice_pdf_render(invoice: Invoice, *, void: bool = False) -> bytes:
    """The invoice's PDF, watermarked VOID with the reason when `void`."""
    return _pdf_render(invoice_html(invoice, void=void), f"invoice {invoice.number}")


def _pdf_keep(model, lookup: dict, content: bytes, what: str):
    """Store `content` as the `model` row of `lookup`, unless another worker stored one
    first (the unique constraint): then that row, unchanged."""
    try:
        with transaction.atomic():
            document = model.objects.create(
                **lookup,
                content=content,
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
            )
    except IntegrityError:
        logger.info("PDF of %s stored by another worker", what)
        return model.objects.get(**lookup)
    logger.info("stored the PDF of %s: %s bytes", what, len(content))
    return document


def invoice_pdf_store(invoice_id: int, variant: str = InvoiceDocument.Variant.ORIGINAL):
    """The invoice's stored PDF of `variant`, rendered and stored if there is none yet.

    Stored once: a row that exists is returned unchanged, so rendering twice never
    replaces the bytes that were sent. Two concurrent calls may both render; the unique
    constraint (invoice, variant) keeps the first to commit, and the other returns it.
    A render failure raises PdfRenderError and stores nothing."""
    existing = InvoiceDocument.objects.filter(invoice_id=invoice_id, variant=variant).first()
    if existing is not None:
        return existing
    invoice = Invoice.objects.select_related("customer", "period").get(pk=invoice_id)
    if variant == InvoiceDocument.Variant.VOID and invoice.status != Invoice.Status.VOID:
        raise PdfRenderError(f"Invoice {invoice.number} is not void: it has no VOID PDF.")
    content = invoice_pdf_render(invoice, void=variant == InvoiceDocument.Variant.VOID)
    what = f"invoice {invoice.number} ({variant})"
    return _pdf_keep(InvoiceDocument, {"invoice": invoice, "variant": variant}, content, what)


# --- Credit notes ----------------------------------------------------------------------
def credit_note_context(note: CreditNote) -> dict:
    """What the printable credit note needs: its own snapshots, lines and taxes."""
    return {
        "note": note,
        "invoice": note.invoice,
        "seller": note.seller or {},
        "buyer": note.buyer or {},
        "lines": note.lines.all(),
        "taxes": note.taxes.all(),
        "logo": _logo_data_uri(),
    }


def credit_note_html(note: CreditNote) -> str:
    return render_to_string("billing/credit_note.html", credit_note_context(note))


def credit_note_pdf_store(credit_note_id: int) -> CreditNoteDocument:
    """The credit note's stored PDF, rendered and stored if there is none yet: stored
    once, like an invoice's (a row that exists is returned unchanged; two concurrent
    calls keep the first to commit). A render failure raises PdfRenderError and stores
    nothing."""
    existing = CreditNoteDocument.objects.filter(credit_note_id=credit_note_id).first()
    if existing is not None:
        return existing
    note = CreditNote.objects.select_related("invoice").get(pk=credit_note_id)
    what = f"credit note {note.number}"
    content = _pdf_render(credit_note_html(note), what)
    return _pdf_keep(CreditNoteDocument, {"credit_note": note}, content, what)
