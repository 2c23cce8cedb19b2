"""Staff API: an invoice's credit notes. GET lists them and GET /credit-notes/{id} reads
one (view_creditnote: Finance, account managers); POST issues one (billing.issue_creditnote:
Finance) through billing.credit_notes.credit_note_issue_once.

POST /api/v1/invoices/{id}/credit-notes: 201 a new credit note; 200 the credit note
issued first when the same `Idempotency-Key` header (or `reference` field) comes again
with the same request (a retried request issues nothing twice); 400 naming the field to
fix (`lines[0].amount`); 404 an unknown invoice; 409 a void invoice.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from agents.api.paid_fields import StrictSerializer, Text
from billing.api.payments import MAX_ID, DecimalText, invoice_or_404
from billing.credit_notes import REFERENCE_MAX, CreditRequest, credit_note_issue_once
from billing.errors import CreditNoteError
from billing.models import CreditNote, CreditNoteLine, CreditNoteTax
from billing.money import round_line
from config.openapi import FIELD_ERRORS_OR_DETAIL, detail
from config.permissions import StaffModelPermissions

IDEMPOTENCY_HEADER = "Idempotency-Key"


class IssueCreditNotePermission(StaffModelPermissions):
    """Reading needs view_creditnote; issuing billing.issue_creditnote (Finance)."""

    perms_map = {**StaffModelPermissions.perms_map, "POST": ["%(app_label)s.issue_%(model_name)s"]}


class CreditLineIn(StrictSerializer):
    invoice_line = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="The id of a line of this invoice."
    )
    amount = DecimalText(
        max_length=40,
        required=False,
        help_text="Net to credit on the line, positive, at most what is left of it, with at "
        'most the currency\'s minor unit ("12.34"; JPY "1200"); omitted: all that is left.',
    )


class JsonBoolean(serializers.BooleanField):
    """true or false, as JSON says: "yes", 1 or "true" are refused (DRF would read them
    as true, and a full credit is not issued on a guess)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class CreditNoteIn(StrictSerializer):
    """A credit note to issue: the whole invoice (`full`) or amounts per line. Fields
    not declared here are refused by name."""

    reason = Text(max_length=2000, single_line=False, help_text="Why; printed on it.")
    full = JsonBoolean(
        required=False, default=False, help_text="Credit everything left of the invoice."
    )
    lines = CreditLineIn(many=True, required=False, help_text="Or: what to credit per line.")
    reference = Text(
        max_length=REFERENCE_MAX,
        required=False,
        help_text=f"Makes a retry safe (or send the {IDEMPOTENCY_HEADER} header): sent again "
        "with the same request, the credit note issued first is answered (200).",
    )

    def validate_reason(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Say why the invoice is credited.")
        return value

    def validate(self, data):
        if data.get("full") and data.get("lines"):
            raise serializers.ValidationError({"full": ["Either full: true or lines, not both."]})
        if not data.get("full") and not data.get("lines"):
            raise serializers.ValidationError(
                {"lines": ["Name at least one line to credit, or send full: true."]}
            )
        return data


class CreditNoteLineOut(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()

    class Meta:
        model = CreditNoteLine
        fields = ("invoice_line", "description", "tax_percent", "amount")

    def get_amount(self, line: CreditNoteLine) -> str:
        return str(round_line(line.amount, line.credit_note.currency))


class CreditNoteTaxOut(serializers.ModelSerializer):
    net = serializers.SerializerMethodField()
    tax = serializers.SerializerMethodField()

    class Meta:
        model = CreditNoteTax
        fields = ("name", "percent", "net", "tax")

    def get_net(self, t: CreditNoteTax) -> str:
        return str(round_line(t.net, t.credit_note.currency))

    def get_tax(self, t: CreditNoteTax) -> str:
        return str(round_line(t.tax, t.credit_note.currency))


class CreditNoteOut(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number")
    net = serializers.SerializerMethodField()
    tax = serializers.SerializerMethodField()
    total = serializers.SerializerMethodField()
    issued_by = serializers.CharField(source="issued_by.username", default=None, allow_null=True)
    lines = CreditNoteLineOut(many=True, read_only=True)
    taxes = CreditNoteTaxOut(many=True, read_only=True)
    invoice_amount_due = serializers.SerializerMethodField()

    class Meta:
        model = CreditNote
        fields = (
            "id",
            "number",
            "invoice",
            "invoice_number",
            "currency",
            "issued_at",
            "issued_by",
            "reason",
            "reference",
            "net",
            "tax",
            "total",
            "lines",
            "taxes",
            "invoice_amount_due",
        )

    def _money(self, note: CreditNote, amount) -> str:
        return str(round_line(amount, note.currency))

    def get_net(self, note: CreditNote) -> str:
        return self._money(note, note.net)

    def get_tax(self, note: CreditNote) -> str:
        return self._money(note, note.tax)

    def get_total(self, note: CreditNote) -> str:
        return self._money(note, note.total)

    def get_invoice_amount_due(self, note: CreditNote) -> str:
        return self._money(note, note.invoice.amount_due)


def _flat(errors, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as {"lines[0].amount": ["..."]}: one key per field to fix."""
    if isinstance(errors, dict):
        flat = {}
        for key, value in errors.items():
            if isinstance(key, int):  # DRF keys a list's errors by index
                name = f"{prefix}[{key}]"
            else:
                name = key if not prefix else f"{prefix}.{key}"
            flat.update(_flat(value, name))
        return flat
    if isinstance(errors, list) and errors and all(isinstance(e, dict | list) for e in errors):
        flat = {}
        for i, value in enumerate(errors):
            flat.update(_flat(value, f"{prefix}[{i}]"))
        return flat
    return {prefix or "non_field_errors": [str(e) for e in errors]}


CREDIT_NOTES = CreditNote.objects.select_related("invoice", "issued_by").prefetch_related(
    "lines__credit_note", "taxes__credit_note"
)


class InvoiceCreditNotes(generics.ListAPIView):
    # The permission class reads the model from here, before the invoice is looked up: a
    # client without the permission learns nothing of invoices.
    queryset = CREDIT_NOTES
    serializer_class = CreditNoteOut
    permission_classes = [IssueCreditNotePermission]

    @extend_schema(operation_id="listInvoiceCreditNotes", summary="An invoice's credit notes")
    def get(self, request, pk):
        invoice = invoice_or_404(pk)
        notes = self.get_queryset().filter(invoice=invoice).order_by("issued_at", "id")
        page = self.paginate_queryset(notes)
        return self.get_paginated_response(CreditNoteOut(page, many=True).data)

    @extend_schema(
        operation_id="issueInvoiceCreditNote",
        summary="Issue a credit note against an invoice",
        request=CreditNoteIn,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="As the `reference` field (at most 100 characters).",
            )
        ],
        responses={
            201: CreditNoteOut,
            200: OpenApiResponse(CreditNoteOut, "Issued already with this reference."),
            400: OpenApiResponse(FIELD_ERRORS_OR_DETAIL, "Refused; the field says what to fix."),
            401: detail("The token is invalid."),
            403: detail("Not staff, or without billing.issue_creditnote (Finance has it)."),
            404: detail("No such invoice."),
            409: detail("The invoice is void: it is not credited."),
        },
    )
    def post(self, request, pk):
        invoice = invoice_or_404(pk)
        data = CreditNoteIn(data=request.data)
        if not data.is_valid():
            raise exceptions.ValidationError(_flat(data.errors))
        values = data.validated_data
        header = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        reference = values.get("reference", "").strip()
        if header and reference and header != reference:
            raise exceptions.ValidationError(
                {"reference": [f"Differs from the {IDEMPOTENCY_HEADER} header; send one."]}
            )
        if len(header) > REFERENCE_MAX:
            raise exceptions.ValidationError(
                {IDEMPOTENCY_HEADER: [f"At most {REFERENCE_MAX} characters."]}
            )
        lines = None
        if not values.get("full"):
            lines = [CreditRequest(r["invoice_line"], r.get("amount")) for r in values["lines"]]
        try:
            note, created = credit_note_issue_once(
                invoice_id=invoice.pk,
                reason=values["reason"],
                lines=lines,
                reference=reference or header,
                user=request.user,
            )
        except CreditNoteError as exc:
            field, _, text = str(exc).partition(": ")
            if field == "invoice":
                return Response({"detail": text}, status=status.HTTP_409_CONFLICT)
            raise exceptions.ValidationError(
                {field if text else "non_field_errors": [text or str(exc)]}
            ) from None
        note = CREDIT_NOTES.get(pk=note.pk)
        return Response(
            CreditNoteOut(note).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class CreditNoteById(generics.RetrieveAPIView):
    queryset = CREDIT_NOTES
    serializer_class = CreditNoteOut

    @extend_schema(operation_id="getCreditNote", summary="A credit note")
    def get(self, request, pk):
        note = CREDIT_NOTES.filter(pk=pk).first() if pk <= MAX_ID else None
        if note is None:
            raise exceptions.NotFound(f"No credit note with id {pk}.")
        return Response(CreditNoteOut(note).data)
