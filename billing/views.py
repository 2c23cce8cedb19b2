"""The pages outside the admin: a customer's outcome statement, the invoice's PDF and
its credit notes' PDFs, behind a signed link; and the PDF responses the admin serves
too."""

import logging

from django.contrib import messages
from django.core import signing
from django.core.cache import cache
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from billing.disputes import dispute_open_from_statement, dispute_window_closes
from billing.errors import DisputeError
from billing.models import (
    BilledSignal,
    CreditNote,
    CreditNoteDocument,
    Dispute,
    Invoice,
    InvoiceDocument,
    OutcomeDefinition,
)
from billing.statements import statement_invoice_id, statement_outcomes

logger = logging.getLogger(__name__)
RENDERING = "The PDF is being rendered; try again in a minute."


def _rendering(key: str, queue, what: str) -> HttpResponse:
    """409 with Retry-After, and the render queued once a minute per PDF (`queue()`),
    however often the link is opened: the web process queues, never renders."""
    if cache.add(f"pdf-render:{key}", True, timeout=60):
        try:
            queue()
        except Exception:
            logger.exception("could not queue the PDF of %s", what)
    response = HttpResponse(RENDERING, status=409, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = "60"
    return response


def _stored_pdf(request, document, filename: str) -> HttpResponse:
    """The stored bytes as they are, ETag their SHA-256 (304 when the client has them)."""
    etag = f'"{document.sha256}"'
    if request.headers.get("If-None-Match") == etag:
        return HttpResponse(status=304, headers={"ETag": etag})
    response = HttpResponse(bytes(document.content), content_type="application/pdf")
    response["ETag"] = etag
    response["Content-Disposition"] = content_disposition_header(False, filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def invoice_pdf_response(request, invoice: Invoice, variant: str) -> HttpResponse:
    """The stored PDF, as stored (ETag: its SHA-256). A read never writes: when it is not
    rendered yet, 409 says to try again, and its render is queued (an idempotent task:
    an invoice issued before PDFs existed, or a lost message, gets its PDF that way)."""
    document = (
        InvoiceDocument.objects.filter(invoice=invoice, variant=variant)
        .only("content", "sha256", "variant", "invoice_id")
        .first()
    )
    live = invoice.status != Invoice.Status.VOID
    if document is None and variant == InvoiceDocument.Variant.VOID and live:
        raise Http404(f"Invoice {invoice.number} is not void: it has no VOID PDF.")
    if document is None:
        from billing.tasks import render_invoice_pdf

        return _rendering(
            f"{invoice.pk}:{variant}",
            lambda: render_invoice_pdf.delay(invoice.pk, variant),
            f"invoice {invoice.pk}",
        )
    document.invoice = invoice
    return _stored_pdf(request, document, document.filename)


def credit_note_pdf_response(request, note: CreditNote) -> HttpResponse:
    """The credit note's stored PDF, as invoice_pdf_response serves an invoice's: a read
    never renders (409 and one render queued)."""
    document = CreditNoteDocument.objects.filter(credit_note=note).only("content", "sha256").first()
    if document is None:
        from billing.tasks import render_credit_note_pdf

        return _rendering(
            f"credit-note:{note.pk}",
            lambda: render_credit_note_pdf.delay(note.pk),
            f"credit note {note.pk}",
        )
    return _stored_pdf(request, document, f"{note.number}.pdf")


def _statement_invoice(request, token: str):
    """The invoice of a statement link, or the response that refuses it (410, 404)."""
    try:
        invoice_id = statement_invoice_id(token)
    except signing.SignatureExpired:
        return None, render(request, "billing/statement_expired.html", status=410)
    except (signing.BadSignature, ValueError):
        raise Http404("No such statement.") from None
    # A top-up invoice bills no outcomes: it has no statement.
    invoice = (
        Invoice.objects.select_related("customer", "period")
        .filter(pk=invoice_id, period__isnull=False)
        .first()
    )
    if invoice is None:
        raise Http404("No such statement.")
    return invoice, None


def statement_invoice_pdf(request, token: str):
    """The invoice's PDF behind the statement's signed link: the VOID one once void."""
    invoice, refusal = _statement_invoice(request, token)
    if refusal is not None:
        return refusal
    variant = (
        InvoiceDocument.Variant.VOID
        if invoice.status == Invoice.Status.VOID
        else InvoiceDocument.Variant.ORIGINAL
    )
    return invoice_pdf_response(request, invoice, variant)


def statement_credit_note_pdf(request, token: str, credit_note_id: int):
    """A credit note of the statement's invoice, behind the same signed link: a credit
    note of another invoice is not found from it."""
    invoice, refusal = _statement_invoice(request, token)
    if refusal is not None:
        return refusal
    note = invoice.credit_notes.filter(pk=credit_note_id).first()
    if note is None:
        raise Http404("No such credit note.")
    return credit_note_pdf_response(request, note)


def outcome_statement(request, token: str, *, error: str = "", status: int = 200):
    """The statement: what was delivered and charged, and each charged outcome with a
    "Dispute" button while the invoice's dispute window is open. A read never writes."""
    invoice, refusal = _statement_invoice(request, token)
    if refusal is not None:
        return refusal
    outcomes = {
        row["outcome_definition"]: row
        for row in BilledSignal.objects.filter(invoice=invoice)
        .values(
            "outcome_definition",
            "outcome_definition__name",
            "outcome_definition__partial_rule",
            "outcome_definition__partial_fraction",
        )
        .annotate(
            successes=Count("pk", filter=Q(outcome=BilledSignal.Outcome.SUCCESS, counted=True)),
            partials=Count("pk", filter=Q(outcome=BilledSignal.Outcome.PARTIAL)),
            failures=Count("pk", filter=Q(outcome=BilledSignal.Outcome.FAILURE)),
            disputed=Count("pk", filter=Q(outcome=BilledSignal.Outcome.DISPUTED)),
        )
        .order_by("outcome_definition__name")
    }
    void = invoice.status == Invoice.Status.VOID
    closes = dispute_window_closes(invoice)
    listing = statement_outcomes(invoice=invoice, params=request.GET)
    return render(
        request,
        "billing/statement.html",
        {
            "invoice": invoice,
            "void": void,
            "outcomes": list(outcomes.values()),
            "lines": invoice.lines.all(),
            "taxes": invoice.taxes.all(),
            "credit_notes": invoice.credit_notes.order_by("issued_at", "id"),
            "PartialRule": OutcomeDefinition.PartialRule,
            "pdf_token": token,
            "listing": listing,
            "window_closes": closes,
            "window_open": not void and timezone.now() <= closes,
            "disputes": invoice.disputes.select_related("credit_note")
            .prefetch_related("outcomes__signal")
            .order_by("-opened_at"),
            "error": error,
        },
        status=status,
    )


@require_POST
def statement_dispute(request, token: str):
    """The customer disputes one outcome of the statement's invoice (CSRF-protected; the
    signed token is the only credential). Refused: the page again, with why, and a 400."""
    invoice, refusal = _statement_invoice(request, token)
    if refusal is not None:
        return refusal
    try:
        dispute = dispute_open_from_statement(
            invoice_id=invoice.pk,
            signal_id=request.POST.get("signal"),
            reason=request.POST.get("reason", ""),
        )
    except DisputeError as exc:
        return outcome_statement(request, token, error=str(exc), status=400)
    if dispute.state == Dispute.State.ACCEPTED:
        text = f"Dispute {dispute.pk} was accepted: " + (
            f"credit note {dispute.credit_note.number} credits it."
            if dispute.credit_note
            else "the outcome added nothing to the invoice, so nothing is credited."
        )
    else:
        text = f"Dispute {dispute.pk} is open: your account manager will answer it."
    messages.success(request, text)
    return redirect("outcome-statement", token=token)
