"""Customers and contacts in Paid's v2 shape (camelCase, Paid's field names), and the
translation of a validated request into our model's fields (with what we refuse, 422).

Paid -> ours. Customer: email -> billing_email, defaultCurrency -> currency, externalId
-> external_id, churnDate -> churned_at (and status churned), billingAddress.{line1,
line2, city, state, zipCode, country} -> address_*. Contact: customerId -> customer (our
id), roles -> the billing / accounts_payable flags, billingAddress.{street, city,
state, zipCode, country} -> address_*.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.api.field_checks import Collector
from agents.api.paid_fields import (
    CountryCode,
    CurrencyCode,
    Email,
    Metadata,
    StrictSerializer,
    Text,
    optional,
)
from agents.api.paid_v2 import refuse
from customers.models import Contact, Customer
from customers.tax_ids import tax_id_check


class BlankAsNull(serializers.CharField):
    """Our empty text is Paid's null."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_representation(self, value):
        return value or None


# --- Customers -----------------------------------------------------------------------
CUSTOMER_ADDRESS = {
    "line1": "address_line1",
    "line2": "address_line2",
    "city": "address_city",
    "state": "address_state",
    "zipCode": "address_postal_code",
    "country": "address_country",
}
CUSTOMER_TEXT = {
    "name": "name",
    "legalName": "legal_name",
    "email": "billing_email",
    "phone": "phone",
    "website": "website",
    "externalId": "external_id",
    "vatNumber": "vat_number",
    "defaultCurrency": "currency",
}


class CustomerAddressIn(StrictSerializer):
    line1 = optional(Text, max_length=200)
    line2 = optional(Text, max_length=200)
    city = optional(Text, max_length=100)
    state = optional(Text, max_length=100)
    zipCode = optional(Text, max_length=20)
    country = optional(CountryCode, help_text="ISO 3166-1 alpha-2, e.g. US (any case).")


class CustomerAddressOut(serializers.Serializer):
    line1 = BlankAsNull()
    line2 = BlankAsNull()
    city = BlankAsNull()
    state = BlankAsNull()
    zipCode = BlankAsNull()
    country = BlankAsNull()


class CustomerIn(StrictSerializer):
    """Create (POST) and update (PUT: only the fields sent change; null clears)."""

    name = Text(max_length=200)
    legalName = optional(Text, max_length=200)
    email = Email(
        max_length=254,
        help_text="The billing e-mail invoices are sent to; required to create.",
        error_messages={"required": "Required here: the billing e-mail invoices go to."},
    )
    phone = optional(Text, max_length=50)
    website = optional(Text, max_length=200)
    externalId = Text(
        max_length=200,
        help_text="The id agents send as the customer's id; required to create.",
        error_messages={
            "required": "Required here: agents name the customer by it in their signals."
        },
    )
    billingAddress = optional(CustomerAddressIn, help_text="Replaces the whole address.")
    creationState = optional(
        serializers.ChoiceField,
        choices=["draft", "active"],
        help_text='Only "active": customers here are never drafts (422).',
    )
    churnDate = optional(
        serializers.DateTimeField, help_text="Set: the customer is churned. null: active again."
    )
    vatNumber = optional(
        Text,
        max_length=50,
        help_text="Tax / VAT id, checked by its country's format and checksum (python-stdnum) "
        "where one exists: an EU prefix (DE…) by the EU rules, else billingAddress.country's.",
    )
    metadata = optional(Metadata, help_text="A JSON object, kept as sent.")
    defaultCurrency = optional(
        CurrencyCode,
        allow_blank=False,
        allow_null=False,
        help_text="ISO 4217, e.g. USD (default USD).",
    )


def customer_values(data: dict) -> dict:
    """A validated CustomerIn as Customer fields; 422 for what we cannot represent."""
    refused = Collector()
    values = {}
    for wire, ours in CUSTOMER_TEXT.items():
        if wire in data:
            values[ours] = data[wire] if data[wire] is not None else ""
    if "billingAddress" in data:
        address = data["billingAddress"] or {}
        for wire, ours in CUSTOMER_ADDRESS.items():
            values[ours] = address.get(wire) or ""
    if "metadata" in data:
        values["metadata"] = data["metadata"] or {}
    if "churnDate" in data:
        values["churned_at"] = data["churnDate"]
        values["status"] = Customer.Status.ACTIVE if data["churnDate"] is None else "churned"
    if data.get("creationState") == "draft":
        refused.add("creationState", "Customers here are never drafts: send active or leave out.")
    refuse(refused.errors)
    return values


def tax_id_refusal(values: dict, customer: Customer | None = None) -> None:
    """400 naming vatNumber when the tax id sent is not valid for the country (sent, or
    kept): python-stdnum's reason, as the admin shows it. A kept number is not checked
    again when only the address moves (a company may be billed at an address abroad)."""
    if not values.get("vat_number"):
        return
    country = values.get("address_country", customer.address_country if customer else "")
    error = tax_id_check(values["vat_number"], country or "")
    if error:
        raise serializers.ValidationError({"vatNumber": [error]})


class CustomerOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    name = serializers.CharField()
    legalName = BlankAsNull(source="legal_name")
    email = serializers.CharField(source="billing_email")
    phone = serializers.CharField()
    website = serializers.CharField()
    externalId = serializers.CharField(source="external_id")
    billingAddress = serializers.SerializerMethodField()
    creationState = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Customer.Status.values)
    churnDate = serializers.DateTimeField(source="churned_at", allow_null=True)
    vatNumber = BlankAsNull(source="vat_number")
    metadata = serializers.DictField()
    defaultCurrency = serializers.CharField(source="currency")
    connections = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    @extend_schema_field(CustomerAddressOut(allow_null=True))
    def get_billingAddress(self, customer) -> dict | None:
        if not any(getattr(customer, ours) for ours in CUSTOMER_ADDRESS.values()):
            return None
        return {wire: getattr(customer, ours) or None for wire, ours in CUSTOMER_ADDRESS.items()}

    @extend_schema_field({"type": "string", "description": "Always active here."})
    def get_creationState(self, customer) -> str:
        return "active"

    @extend_schema_field({"type": "object", "description": "No linked systems here: {}."})
    def get_connections(self, customer) -> dict:
        return {}


# --- Contacts ------------------------------------------------------------------------
CONTACT_ADDRESS = {
    "street": "address_street",
    "city": "address_city",
    "state": "address_state",
    "zipCode": "address_postal_code",
    "country": "address_country",
}
CONTACT_TEXT = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phone": "phone",
    "externalId": "external_id",
}
ROLES = {"BILLING": "billing", "ACCOUNTS_PAYABLE": "accounts_payable"}


class ContactAddressIn(StrictSerializer):
    street = optional(Text, max_length=200)
    city = optional(Text, max_length=100)
    state = optional(Text, max_length=100)
    zipCode = optional(Text, max_length=20)
    country = optional(CountryCode, help_text="ISO 3166-1 alpha-2, e.g. US (any case).")


class ContactAddressOut(serializers.Serializer):
    street = BlankAsNull()
    city = BlankAsNull()
    state = BlankAsNull()
    zipCode = BlankAsNull()
    country = BlankAsNull()


class ContactIn(StrictSerializer):
    customerId = Text(max_length=20, help_text="The customer's id (not its external id).")
    firstName = optional(Text, max_length=100)
    lastName = optional(Text, max_length=100)
    email = Email(max_length=254)
    phone = optional(Text, max_length=50)
    billingAddress = optional(ContactAddressIn, help_text="Replaces the whole address.")
    externalId = optional(Text, max_length=200)
    roles = optional(
        serializers.ListField,
        child=serializers.ChoiceField(choices=list(ROLES)),
        max_length=len(ROLES),
    )


def contact_values(data: dict) -> dict:
    """A validated ContactIn as Contact fields (the customer is looked up by the view)."""
    values = {}
    for wire, ours in CONTACT_TEXT.items():
        if wire in data:
            values[ours] = data[wire] if data[wire] is not None else ""
    if "externalId" in data:
        values["external_id"] = data["externalId"] or None
    if "billingAddress" in data:
        address = data["billingAddress"] or {}
        for wire, ours in CONTACT_ADDRESS.items():
            values[ours] = address.get(wire) or ""
    if "roles" in data:
        roles = set(data["roles"] or ())
        for wire, ours in ROLES.items():
            values[ours] = wire in roles
    return values


class ContactOut(serializers.Serializer):
    id = serializers.CharField(source="pk")
    customerId = serializers.CharField(source="customer_id")
    firstName = serializers.CharField(source="first_name")
    lastName = serializers.CharField(source="last_name")
    email = serializers.CharField()
    phone = BlankAsNull()
    billingAddress = serializers.SerializerMethodField()
    externalId = serializers.CharField(source="external_id", allow_null=True)
    roles = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    @extend_schema_field(ContactAddressOut(allow_null=True))
    def get_billingAddress(self, contact: Contact) -> dict | None:
        if not any(getattr(contact, ours) for ours in CONTACT_ADDRESS.values()):
            return None
        return {wire: getattr(contact, ours) or None for wire, ours in CONTACT_ADDRESS.items()}

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=list(ROLES))))
    def get_roles(self, contact: Contact) -> list[str]:
        return [wire for wire, ours in ROLES.items() if getattr(contact, ours)]
