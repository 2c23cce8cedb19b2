"""Paid's v2 orders are our price agreements: /api/v2/orders/ (list, create), /{id} and
/{id}/lines (one line per price). What an order can say and how it maps is in
paid_order_requests.py; docs/paid-api.md has the table.

Read back: amounts billed are the agreement's issued invoices (exact numbers in the
major unit); tax and amounts pending are not computed here (0). `version` counts the
agreement's audited changes, `updatedAt` is the latest. Beyond Paid's fields an order
says its `currency` and `platformFee`, and a line its `pricing` (as an order is sent).
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, OuterRef, Prefetch, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response

from agents.api.paid_fields import validated
from agents.api.paid_v2 import ID, MAX_ID_DIGITS, CatalogueView, printable
from billing.agreement_changes import agreement_delete, agreement_update
from billing.agreements import agreement_create
from billing.api.paid_invoice_serializers import Amount, digits
from billing.api.paid_order_changes import order_changes
from billing.api.paid_order_filters import OrderFilter
from billing.api.paid_order_requests import OrderIn
from billing.api.paid_order_terms import order_terms, payment_terms_text
from billing.models import AgreementVersion, Invoice, Price, PriceAgreement
from billing.money import MONEY, ZERO, json_number, round_line
from billing.pricing import PricingModel
from billing.versions import agreement_now, prices_now
from customers.currencies import minor_unit

PAID_MODELS = {
    PricingModel.PER_OUTCOME: "perUnit",
    PricingModel.GRADUATED: "graduatedPricing",
    PricingModel.VOLUME: "volumePricing",
}


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def orders():
    """Agreements with what an order shows: amounts billed, version, last change."""
    history = PriceAgreement.history.model.objects.filter(id=OuterRef("pk"))
    versions = Prefetch(
        "versions",
        queryset=AgreementVersion.objects.order_by("effective_from"),
        to_attr="versions_ordered",
    )
    return (
        PriceAgreement.objects.select_related("customer")
        .prefetch_related(versions)
        .annotate(
            billed=Coalesce(
                Sum(
                    "periods__invoices__total",
                    filter=Q(periods__invoices__status__in=Invoice.Status.live()),
                ),
                Value(ZERO),
                output_field=DecimalField(**MONEY),
            ),
            version=Coalesce(
                Subquery(
                    history.order_by().values("id").annotate(n=Count("history_id")).values("n")[:1]
                ),
                Value(1),
            ),
            changed_at=Subquery(history.order_by("-history_date").values("history_date")[:1]),
        )
    )


def changed_by(request) -> str:
    """Who a row's history names: the API key (an API key is no user)."""
    key = request.auth
    return f"Paid API, key {key.name!r} ({key.prefix})"


def _instant(day: date | None) -> str | None:
    return None if day is None else serializers.DateTimeField().to_representation(midnight(day))


@extend_schema_field({"type": "number"})
class Zero(serializers.Field):
    """A figure not kept here: always 0."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, value):
        return 0


class OrderOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    customerId = serializers.CharField(source="customer_id")
    billingCustomerId = serializers.CharField(source="customer_id")
    billingContactIds = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.SerializerMethodField()
    endDate = serializers.SerializerMethodField()
    name = serializers.CharField()
    startDate = serializers.SerializerMethodField()
    subscriptionTerms = serializers.SerializerMethodField()
    billedAmountNoTax = Amount(source="billed")
    billedTax = Zero()
    estimatedTax = Zero()
    orderAmount = Amount(source="billed")
    pendingBillingAmount = Zero()
    totalAmount = Amount(source="billed")
    totalBilledAmount = Amount(source="billed")
    creationState = serializers.SerializerMethodField()
    paymentTerms = serializers.SerializerMethodField()
    number = serializers.IntegerField(source="pk")
    metadata = serializers.SerializerMethodField()
    showPaymentLink = serializers.SerializerMethodField()
    showBankDetails = serializers.SerializerMethodField()
    autoPostInvoices = serializers.SerializerMethodField()
    autoSendBillingEmails = serializers.SerializerMethodField()
    autoSendPaymentEmails = serializers.SerializerMethodField()
    version = serializers.IntegerField()
    billingFrequencyOverridden = serializers.SerializerMethodField()
    billingFrequencyOverride = serializers.SerializerMethodField()
    purchaseOrderReference = serializers.SerializerMethodField()
    currency = serializers.CharField()
    platformFee = serializers.SerializerMethodField(
        help_text="The version in effect now (a change scheduled from a later period start "
        "shows once it begins)."
    )

    @extend_schema_field(
        {"type": "number", "description": "Exact, in the currency's major unit (12.34 USD)."}
    )
    def get_platformFee(self, agreement) -> Decimal:
        versions = getattr(agreement, "versions_ordered", None)
        current = agreement_now(agreement, now=timezone.now(), versions=versions)
        return json_number(round_line(current.platform_fee, agreement.currency))

    @extend_schema_field({"type": "array", "items": {"type": "string"}, "maxItems": 0})
    def get_billingContactIds(self, agreement) -> list:
        return []

    @extend_schema_field(serializers.DateTimeField())
    def get_updatedAt(self, agreement):
        moment = getattr(agreement, "changed_at", None) or agreement.created_at
        return serializers.DateTimeField().to_representation(moment)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_endDate(self, agreement):
        return _instant(agreement.ends_on + timedelta(days=1) if agreement.ends_on else None)

    @extend_schema_field(serializers.DateTimeField())
    def get_startDate(self, agreement):
        return _instant(agreement.starts_on)

    @extend_schema_field({"type": "integer", "nullable": True})
    def get_subscriptionTerms(self, agreement) -> None:
        return None

    @extend_schema_field({"type": "string", "description": "Always active here."})
    def get_creationState(self, agreement) -> str:
        return "active"

    def get_paymentTerms(self, agreement) -> str:
        return payment_terms_text(agreement.payment_terms_days)

    @extend_schema_field({"type": "object", "nullable": True})
    def get_metadata(self, agreement) -> None:
        return None

    @extend_schema_field({"type": "boolean", "nullable": True})
    def get_showPaymentLink(self, agreement) -> None:
        return None

    @extend_schema_field({"type": "boolean", "nullable": True})
    def get_showBankDetails(self, agreement) -> None:
        return None

    def get_autoPostInvoices(self, agreement) -> bool:
        return True

    def get_autoSendBillingEmails(self, agreement) -> bool:
        return False

    def get_autoSendPaymentEmails(self, agreement) -> bool:
        return False

    def get_billingFrequencyOverridden(self, agreement) -> bool:
        return True

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "frequency": {"type": "string", "enum": list(PriceAgreement.Cadence.values)},
                "customMonths": {"type": "integer", "nullable": True},
            },
            "description": "The agreement's cadence.",
        }
    )
    def get_billingFrequencyOverride(self, agreement) -> dict:
        return {"frequency": agreement.cadence, "customMonths": None}

    @extend_schema_field({"type": "string", "nullable": True})
    def get_purchaseOrderReference(self, agreement) -> None:
        return None


def _minor(amount, currency: str):
    return None if amount is None else json_number(amount.scaleb(minor_unit(currency)).normalize())


class OrderLineOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    productId = serializers.CharField(source="outcome_definition.agent_id")
    name = serializers.CharField(source="outcome_definition.name")
    description = serializers.SerializerMethodField()
    startDate = serializers.SerializerMethodField()
    endDate = serializers.SerializerMethodField()
    lineType = serializers.SerializerMethodField()
    pricing = serializers.SerializerMethodField()

    def get_description(self, price: Price) -> str:
        return price.get_model_display()

    @extend_schema_field(serializers.DateTimeField())
    def get_startDate(self, price: Price):
        return _instant(price.agreement.starts_on)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_endDate(self, price: Price):
        ends_on = price.agreement.ends_on
        return _instant(ends_on + timedelta(days=1) if ends_on else None)

    @extend_schema_field({"type": "string", "enum": ["STANDARD"]})
    def get_lineType(self, price: Price) -> str:
        return "STANDARD"

    @extend_schema_field(
        {
            "type": "object",
            "description": "The price as an order sends it (minor units); pricingModel is "
            "ours (percent_of_value, cost_plus) where Paid has none, without pricePoints.",
        }
    )
    def get_pricing(self, price: Price) -> dict:
        currency = price.agreement.currency
        pricing = {
            "chargeType": "usage",
            "pricingModel": PAID_MODELS.get(price.model, price.model),
            "eventName": price.outcome_definition.event_name,
            "pricePoints": None,
        }
        if price.model in PAID_MODELS:
            tiers = [
                {
                    "lowerBound": json_number(t.from_quantity),
                    "upperBound": None
                    if t.up_to_quantity is None
                    else json_number(t.up_to_quantity),
                    "unitAmount": _minor(t.unit_price, currency),
                }
                for t in (price.tiers.all() if price.model in Price.TIERED else ())
            ]
            pricing["pricePoints"] = {
                "currency": currency,
                "unitPrice": _minor(price.unit_price, currency) or 0,
                "includedQuantity": json_number(price.included_quantity),
                "tiers": tiers,
            }
        return pricing


class OrderList(ListModelMixin, CatalogueView):
    serializer_class = OrderOut
    filter_backends = [DjangoFilterBackend]
    filterset_class = OrderFilter

    def get_queryset(self):
        return orders().order_by("id")

    @extend_schema(operation_id="listOrders", summary="Paid-compatible: list orders")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="createOrder",
        summary="Paid-compatible: create an order (a price agreement)",
        request=OrderIn,
        responses={201: OrderOut},
        description="Creates the customer's price agreement with its prices; what an "
        "agreement cannot express is refused with 422 naming the field (docs/paid-api.md).",
    )
    def post(self, request):
        terms = order_terms(validated(OrderIn, request.data), today=timezone.now().date())
        agreement = agreement_create(
            customer=terms.customer,
            name=terms.name,
            currency=terms.currency,
            starts_on=terms.starts_on,
            ends_on=terms.ends_on,
            cadence=terms.cadence,
            platform_fee=terms.platform_fee,
            payment_terms_days=terms.payment_terms_days,
            prices=terms.prices,
            changed_by=changed_by(request),
        )
        return Response(
            OrderOut(orders().get(pk=agreement.pk)).data, status=status.HTTP_201_CREATED
        )


class OrderById(CatalogueView):
    serializer_class = OrderOut
    noun = "order"

    def get_queryset(self):
        return orders()

    @extend_schema(
        operation_id="getOrderById", summary="Paid-compatible: an order", parameters=[ID]
    )
    def get(self, request, **kwargs):
        return Response(OrderOut(self.get_object()).data)

    @extend_schema(
        operation_id="updateOrderById",
        summary="Paid-compatible: change an order",
        parameters=[ID],
        request=OrderIn,
        responses={200: OrderOut},
        description="Only the fields sent change, checked as create checks them (422 naming "
        "the field). Name, endDate and paymentTerms always; lines (which replace the "
        "prices), startDate and the billing frequency only while nothing was billed under "
        "the agreement (409 otherwise: prices change at a period boundary through a new "
        "agreement). An endDate before the end of a billed period is a 409.",
    )
    def put(self, request, **kwargs):
        agreement = self.get_object()
        sent = validated(OrderIn, request.data, partial=True)
        changes = order_changes(sent, agreement, today=timezone.now().date())
        agreement_update(agreement_id=agreement.pk, changed_by=changed_by(request), **changes)
        return Response(OrderOut(orders().get(pk=agreement.pk)).data)

    @extend_schema(
        operation_id="deleteOrderById",
        summary="Paid-compatible: delete an order",
        parameters=[ID],
        responses={200: {"type": "object", "description": "Deleted: {}."}},
        description="Deletes the agreement with its prices and periods only if nothing was "
        "billed under it (no invoice, issued or void); otherwise 409 and it is kept: end it "
        "by setting endDate with PUT.",
    )
    def delete(self, request, **kwargs):
        agreement = self.get_object()
        agreement_delete(agreement_id=agreement.pk, changed_by=changed_by(request))
        return Response({})


class OrderActivate(CatalogueView):
    serializer_class = OrderOut
    noun = "order"

    def get_queryset(self):
        return orders()

    @extend_schema(
        operation_id="activateOrderById",
        summary="Paid-compatible: activate an order",
        parameters=[ID],
        request=None,
        responses={200: OrderOut},
        description="Agreements are active once created (they bill from their start): "
        "answers the order as it stands, and changes nothing.",
    )
    def post(self, request, **kwargs):
        return Response(OrderOut(self.get_object()).data)


class OrderLines(ListModelMixin, CatalogueView):
    serializer_class = OrderLineOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator
            return Price.objects.none()
        raw = self.kwargs["id"]
        order = digits(raw) if len(raw) <= MAX_ID_DIGITS else None
        agreement = PriceAgreement.objects.filter(pk=order).first() if order else None
        if agreement is None:
            raise exceptions.NotFound(printable(f"No order with id {raw!r}."))
        # The prices in effect now: a version scheduled from a later period start shows
        # once it begins (the rows hold it already).
        prices = prices_now(agreement, now=timezone.now())
        for price in prices:
            price.agreement = agreement
        return sorted(prices, key=lambda price: price.pk)

    @extend_schema(
        operation_id="getOrderLines",
        summary="Paid-compatible: an order's lines (one per price)",
        parameters=[ID],
    )
    def get(self, request, **kwargs):
        return self.list(request)
