"""The one factory module (factory-boy)."""

from datetime import date
from decimal import Decimal

import factory
from django.utils import timezone

from agents.models import Agent, Cost, Signal
from billing.models import (
    ExchangeRate,
    OutcomeCriterion,
    OutcomeDefinition,
    Price,
    PriceAgreement,
    PriceTier,
    SellerProfile,
    TaxRate,
)
from customers.models import Contact, Customer


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    external_id = factory.Sequence(lambda n: f"cus_{n}")
    name = factory.Sequence(lambda n: f"Customer {n}")
    currency = "USD"
    billing_email = factory.LazyAttribute(lambda o: f"billing@{o.external_id}.example")


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    external_id = factory.Sequence(lambda n: f"agent-{n}")
    name = factory.Sequence(lambda n: f"Agent {n}")


class SignalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Signal

    agent = factory.SubFactory(AgentFactory)
    customer = factory.SubFactory(CustomerFactory)
    external_customer_id = factory.LazyAttribute(
        lambda o: o.customer.external_id if o.customer else "cus_unknown"
    )
    event_name = "document_processed"
    occurred_at = factory.LazyFunction(timezone.now)
    data = factory.LazyFunction(dict)


class CostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cost

    agent = factory.SubFactory(AgentFactory)
    customer = factory.SubFactory(CustomerFactory)
    category = "llm"
    amount = Decimal("0.01")
    currency = "USD"


class OutcomeDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutcomeDefinition

    agent = factory.SubFactory(AgentFactory)
    name = factory.Sequence(lambda n: f"Outcome {n}")
    event_name = "document_processed"


class OutcomeCriterionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutcomeCriterion

    definition = factory.SubFactory(OutcomeDefinitionFactory)
    kind = "success"
    field_path = "status"
    operator = "eq"
    value = "ok"


class PriceAgreementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceAgreement

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Agreement {n}")
    currency = "USD"
    starts_on = date(2026, 1, 1)


class PriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Price

    agreement = factory.SubFactory(PriceAgreementFactory)
    outcome_definition = factory.SubFactory(OutcomeDefinitionFactory)
    model = "per_outcome"
    unit_price = Decimal("1.00")


class PriceTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceTier

    price = factory.SubFactory(PriceFactory, model="graduated", unit_price=None)
    from_quantity = Decimal(0)
    up_to_quantity = None
    unit_price = Decimal("1.00")


class ExchangeRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExchangeRate

    base_currency = "EUR"
    quote_currency = "USD"
    rate = Decimal("1.08")
    effective_on = date(2026, 1, 1)


class SellerProfileFactory(factory.django.DjangoModelFactory):
    """The seller every test invoice is issued by (complete: closing needs it)."""

    class Meta:
        model = SellerProfile
        django_get_or_create = ("id",)

    id = 1
    legal_name = "Outcome Agents Ltd"
    address_line1 = "1 Example Street"
    address_city = "London"
    address_postal_code = "EC1A 1BB"
    address_country = "GB"
    tax_id = "GB980780684"
    registration_number = "12345678"
    payment_instructions = "IBAN GB33 BUKB 2020 1555 5555 55, reference: the invoice number"


class TaxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaxRate

    name = "VAT 20%"
    percent = Decimal("20")
    country = "GB"


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    customer = factory.SubFactory(CustomerFactory)
    email = factory.Sequence(lambda n: f"ap{n}@example.com")
    billing = True
