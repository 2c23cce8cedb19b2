"""Staff API: a customer's prepaid credit grants and their ledgers. GET lists a
customer's grants and GET /credit-grants/{id} reads one with its ledger (view_creditgrant:
Finance, account managers, viewers); POST creates one (add_creditgrant: Finance) through
billing.credit_grants.grant_create_once, or a top-up through top_up_request.

POST /api/v1/customers/{external_id}/credit-grants: 201 a new grant; 200 the grant
created first when the same `Idempotency-Key` header (or `reference` field) comes again
with the same request; 409 naming `reference` when it comes with another request; 400
naming each field to fix; 404 an unknown customer.
"""

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import exceptions, generics, status
from rest_framework.response import Response

from billing.api.credit_grant_serializers import (
    IDEMPOTENCY_HEADER,
    CreditGrantIn,
    CreditGrantOut,
    CreditGrantWithLedgerOut,
)
from billing.api.payments import MAX_ID
from billing.credit_grants import REFERENCE_MAX, grant_create_once, top_up_request
from billing.errors import GrantError
from billing.models import CreditGrant, OutcomeDefinition
from config.openapi import FIELD_ERRORS, FIELD_ERRORS_OR_DETAIL, detail
from customers.models import Customer

EXTERNAL_ID = OpenApiParameter(
    "external_id",
    str,
    OpenApiParameter.PATH,
    description="The customer's external id (the id agents send as customer_id).",
    examples=[OpenApiExample("A customer", value="cus_01")],
)
GRANTS = CreditGrant.objects.select_related("customer", "purchase_invoice", "created_by")


def customer_or_404(external_id: str) -> Customer:
    customer = None
    if len(external_id) <= 200 and "\x00" not in external_id:
        customer = Customer.objects.filter(external_id=external_id).first()
    if customer is None:
        raise exceptions.NotFound(f"No customer with external id {external_id[:200]!r}.")
    return customer


def _reference(request, values: dict) -> tuple[str, str]:
    """(reference, the name the client gave it by): the field, or the header."""
    header = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    reference = values.pop("reference", "").strip()
    if header and reference and header != reference:
        raise exceptions.ValidationError(
            {"reference": [f"Differs from the {IDEMPOTENCY_HEADER} header; send one."]}
        )
    if len(header) > REFERENCE_MAX or re.search(r"[\x00-\x1f\x7f]", header):
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: [f"At most {REFERENCE_MAX} printable characters."]}
        )
    return (reference, "reference") if reference else (header, IDEMPOTENCY_HEADER)


class CustomerCreditGrants(generics.ListAPIView):
    # The permission class reads the model from here, before the customer is looked up:
    # a client without the permission learns nothing of customers.
    queryset = GRANTS
    serializer_class = CreditGrantOut

    @extend_schema(
        operation_id="listCustomerCreditGrants",
        summary="A customer's credit grants, newest first",
        parameters=[EXTERNAL_ID],
    )
    def get(self, request, external_id):
        customer = customer_or_404(external_id)
        grants = self.get_queryset().filter(customer=customer).order_by("-created_at", "-id")
        page = self.paginate_queryset(grants)
        return self.get_paginated_response(CreditGrantOut(page, many=True).data)

    @extend_schema(
        operation_id="createCustomerCreditGrant",
        summary="Grant a customer prepaid credits, or record a top-up",
        request=CreditGrantIn,
        parameters=[
            EXTERNAL_ID,
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description=f"As the `reference` field (at most {REFERENCE_MAX} characters).",
            ),
        ],
        responses={
            201: CreditGrantOut,
            200: OpenApiResponse(CreditGrantOut, "Created already with this reference."),
            400: OpenApiResponse(FIELD_ERRORS_OR_DETAIL, "Refused; each field says what to fix."),
            401: detail("The token is invalid."),
            403: detail("Not staff, or without billing.add_creditgrant (Finance has it)."),
            404: detail("No such customer."),
            409: OpenApiResponse(
                FIELD_ERRORS, "The reference was used by another request (it is named)."
            ),
        },
    )
    def post(self, request, external_id):
        customer = customer_or_404(external_id)
        data = CreditGrantIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        reference, reference_name = _reference(request, values)
        top_up = values.pop("top_up", False)
        invoice_now = values.pop("invoice_now", False)
        if invoice_now and not top_up:
            raise exceptions.ValidationError(
                {"invoice_now": ["Only a top-up is invoiced: send top_up: true as well."]}
            )
        definition_id = values.get("outcome_definition")
        if definition_id is not None:
            # Unknown: passed on as the id, which grant_problems names.
            values["outcome_definition"] = (
                OutcomeDefinition.objects.filter(pk=definition_id).first() or definition_id
            )
        try:
            if top_up:
                grant, created = top_up_request(
                    customer=customer,
                    reference=reference,
                    user=request.user,
                    invoice_now=invoice_now,
                    **values,
                )
            else:
                grant, created = grant_create_once(
                    customer=customer,
                    values={**values, "source": CreditGrant.Source.API},
                    reference=reference,
                    user=request.user,
                )
        except GrantError as exc:
            problems = {
                reference_name if field == "reference" else field: [text]
                for field, text in exc.problems.items()
            }
            if exc.conflict:
                return Response(problems, status=status.HTTP_409_CONFLICT)
            raise exceptions.ValidationError(problems) from None
        return Response(
            CreditGrantOut(GRANTS.get(pk=grant.pk)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class CreditGrantById(generics.RetrieveAPIView):
    queryset = GRANTS
    serializer_class = CreditGrantWithLedgerOut

    @extend_schema(operation_id="getCreditGrant", summary="A credit grant with its ledger")
    def get(self, request, pk):
        grant = GRANTS.filter(pk=pk).first() if pk <= MAX_ID else None
        if grant is None:
            raise exceptions.NotFound(f"No credit grant with id {pk}.")
        return Response(CreditGrantWithLedgerOut(grant).data)
