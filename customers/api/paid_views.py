"""Paid's v2 customers and contacts: /api/v2/customers/ and /api/v2/contacts/, by our id
and by external id, as Paid's Python SDK calls them."""

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.mixins import ListModelMixin
from rest_framework.response import Response

from agents.api.paid_fields import MomentFilter, validated
from agents.api.paid_v2 import CatalogueView, by_id_and_external_id
from customers.api.paid_serializers import (
    ContactIn,
    ContactOut,
    CustomerIn,
    CustomerOut,
    contact_values,
    customer_values,
    tax_id_refusal,
)
from customers.models import Contact, Customer
from customers.services import (
    contact_create,
    contact_delete,
    contact_update,
    customer_create,
    customer_delete,
    customer_update,
)

DELETED = {200: {"type": "object", "description": "Deleted: {}."}}


# --- Customers -----------------------------------------------------------------------
class CustomerFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(
        lookup_expr="icontains", help_text="Part of the name, any case."
    )
    status = django_filters.ChoiceFilter(choices=Customer.Status.choices)
    creationState = django_filters.ChoiceFilter(
        choices=[("draft", "draft"), ("active", "active")],
        method="by_creation_state",
        help_text="Customers here are all active: draft finds none.",
    )
    createdAtFrom = MomentFilter(field_name="created_at")
    createdAtTo = MomentFilter(field_name="created_at", until=True)
    externalId = django_filters.CharFilter(field_name="external_id")

    class Meta:
        model = Customer
        fields = []

    def by_creation_state(self, queryset, name, value):
        return queryset.none() if value == "draft" else queryset


class CustomerList(ListModelMixin, CatalogueView):
    queryset = Customer.objects.order_by("id")
    serializer_class = CustomerOut
    filter_backends = [DjangoFilterBackend]
    filterset_class = CustomerFilter

    @extend_schema(operation_id="listCustomers", summary="Paid-compatible: list customers")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="createCustomer",
        summary="Paid-compatible: create a customer",
        request=CustomerIn,
        responses={201: CustomerOut},
        description="Needs name, email (the billing e-mail) and externalId (the id agents "
        "send); an organisation key.",
    )
    def post(self, request):
        values = customer_values(validated(CustomerIn, request.data))
        tax_id_refusal(values)
        currency = values.pop("currency", Customer._meta.get_field("currency").default)
        customer = customer_create(
            external_id=values.pop("external_id"),
            name=values.pop("name"),
            billing_email=values.pop("billing_email"),
            currency=currency,
            **values,
        )
        return Response(CustomerOut(customer).data, status=status.HTTP_201_CREATED)


class CustomerObject(CatalogueView):
    queryset = Customer.objects.all()
    serializer_class = CustomerOut
    noun = "customer"

    @extend_schema(summary="Paid-compatible: a customer")
    def get(self, request, **kwargs):
        return Response(CustomerOut(self.get_object()).data)

    @extend_schema(
        summary="Paid-compatible: change a customer",
        request=CustomerIn,
        responses={200: CustomerOut},
        description="Only the fields sent change; null clears an optional one.",
    )
    def put(self, request, **kwargs):
        customer = self.get_object()
        values = customer_values(validated(CustomerIn, request.data, partial=True))
        tax_id_refusal(values, customer)
        customer = customer_update(customer=customer, **values)
        return Response(CustomerOut(customer).data)

    @extend_schema(
        summary="Paid-compatible: delete a customer",
        responses=DELETED,
        description="Only a customer nothing was recorded against (no signals, costs, "
        "agreements, invoices): otherwise 409, and it stays; mark it churned instead.",
    )
    def delete(self, request, **kwargs):
        customer_delete(customer=self.get_object())
        return Response({})


CustomerById, CustomerByExternalId = by_id_and_external_id(
    CustomerObject, "Customer", get="get", put="update", delete="delete"
)


# --- Contacts ------------------------------------------------------------------------
def customer_named(data: dict) -> Customer | None:
    """The customer a contact's customerId names (our id), or a 400 naming the field."""
    if "customerId" not in data:
        return None
    raw = data["customerId"]
    found = None
    if raw.isascii() and raw.isdigit():
        found = Customer.objects.filter(pk=int(raw)).first()
    if found is None:
        raise exceptions.ValidationError(
            {"customerId": [f"No customer with id {raw!r} (give our id, not the external id)."]}
        )
    return found


class ContactList(ListModelMixin, CatalogueView):
    queryset = Contact.objects.order_by("id")
    serializer_class = ContactOut

    @extend_schema(operation_id="listContacts", summary="Paid-compatible: list contacts")
    def get(self, request):
        return self.list(request)

    @extend_schema(
        operation_id="createContact",
        summary="Paid-compatible: create a contact",
        request=ContactIn,
        responses={201: ContactOut},
    )
    def post(self, request):
        data = validated(ContactIn, request.data)
        customer = customer_named(data)
        values = contact_values(data)
        contact = contact_create(customer=customer, email=values.pop("email"), **values)
        return Response(ContactOut(contact).data, status=status.HTTP_201_CREATED)


class ContactObject(CatalogueView):
    queryset = Contact.objects.all()
    serializer_class = ContactOut
    noun = "contact"

    @extend_schema(summary="Paid-compatible: a contact")
    def get(self, request, **kwargs):
        return Response(ContactOut(self.get_object()).data)

    @extend_schema(
        summary="Paid-compatible: change a contact",
        request=ContactIn,
        responses={200: ContactOut},
        description="Only the fields sent change; null clears an optional one.",
    )
    def put(self, request, **kwargs):
        contact = self.get_object()
        data = validated(ContactIn, request.data, partial=True)
        values = contact_values(data)
        if "customerId" in data:
            values["customer"] = customer_named(data)
        contact = contact_update(contact=contact, **values)
        return Response(ContactOut(contact).data)

    @extend_schema(summary="Paid-compatible: delete a contact", responses=DELETED)
    def delete(self, request, **kwargs):
        contact_delete(contact=self.get_object())
        return Response({})


ContactById, ContactByExternalId = by_id_and_external_id(
    ContactObject, "Contact", get="get", put="update", delete="delete"
)
