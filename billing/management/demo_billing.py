"""The demo's invoicing details: a seller, tax rates, and customers' billing details, so
that `make run` issues invoices a finance team could send."""

from decimal import Decimal as D

from billing.models import SellerProfile, TaxRate
from customers.models import Contact, Customer

SELLER = {
    "legal_name": "Outcome Agents Ltd",
    "address_line1": "1 Demo Street",
    "address_city": "London",
    "address_postal_code": "EC1A 1BB",
    "address_country": "GB",
    "tax_id": "GB980780684",
    "registration_number": "12345678",
    "email": "billing@outcome-agents.example",
    "payment_instructions": "Bank transfer to IBAN GB33 BUKB 2020 1555 5555 55 (BIC BUKBGB22), "
    "quoting the invoice number.",
    "invoice_footer": "Outcome Agents Ltd, registered in England and Wales no. 12345678.",
}
RATES = {
    "uk": {"name": "UK VAT 20%", "percent": D("20"), "country": "GB"},
    "jp": {"name": "Japan consumption tax 10%", "percent": D("10"), "country": "JP"},
    "reverse": {
        "name": "EU reverse charge",
        "percent": D("0"),
        "treatment": TaxRate.Treatment.REVERSE_CHARGE,
        "legal_note": "Reverse charge: VAT to be accounted for by the recipient "
        "(Article 196, Council Directive 2006/112/EC).",
    },
}
# external id: (legal name, street, postal code, city, country, tax id, rate)
DETAILS = {
    "cus_01": ("Acme Corporation", "100 Market St", "94105", "San Francisco", "US", "", None),
    "cus_02": ("Globex Inc.", "1 Globex Way", "10001", "New York", "US", "", None),
    "cus_03": ("Initech GmbH", "Hauptstr. 1", "10115", "Berlin", "DE", "DE136695976", "reverse"),
    "cus_06": ("Wayne Retail plc", "2 High St", "M1 1AE", "Manchester", "GB", "", "uk"),
    "cus_07": ("Tyrell Trading K.K.", "1-1 Marunouchi", "100-0005", "Tokyo", "JP", "", "jp"),
    "cus_10": (
        "Hooli Europe SAS",
        "1 rue de Rivoli",
        "75001",
        "Paris",
        "FR",
        "FR40303265045",
        "reverse",
    ),
}


def demo_billing_details() -> None:
    """Create or complete the demo seller, tax rates and billing details (safe twice)."""
    SellerProfile.objects.update_or_create(pk=1, defaults=SELLER)
    rates = {
        key: TaxRate.objects.get_or_create(name=spec["name"], defaults=spec)[0]
        for key, spec in RATES.items()
    }
    for external_id, (legal, street, postal, city, country, tax_id, rate) in DETAILS.items():
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None or customer.legal_name:
            continue
        customer.legal_name, customer.address_line1 = legal, street
        customer.address_postal_code, customer.address_city = postal, city
        customer.address_country, customer.vat_number = country, tax_id
        customer.tax_rate = rates[rate] if rate else None
        customer.save()
        Contact.objects.get_or_create(
            customer=customer,
            email=f"accounts-payable@{customer.billing_email.split('@')[1]}",
            defaults={"first_name": "Accounts", "last_name": "Payable", "billing": True},
        )
