from django.contrib import admin
from django.db.models import Count
from simple_history.admin import SimpleHistoryAdmin

from billing.models import PriceAgreement
from config.admin_tools import money_column
from customers.models import Contact, Customer


class AgreementInline(admin.TabularInline):
    model = PriceAgreement
    fields = ("name", "currency", "starts_on", "ends_on", "cadence", "platform_fee_display")
    readonly_fields = fields
    platform_fee_display = money_column("platform_fee")
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Price agreements (open one to edit its prices and tiers)"

    def has_add_permission(self, request, obj=None):
        # Agreements are added on their own page, where prices and tiers are edited.
        return False


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ("first_name", "last_name", "email", "phone", "billing", "accounts_payable")
    extra = 0
    show_change_link = False
    verbose_name_plural = "Contacts (those marked “billing” receive invoices too)"


@admin.register(Customer)
class CustomerAdmin(SimpleHistoryAdmin):
    """Who pays. The billing details are printed on each invoice as they are at issue
    (kept on the invoice); the tax id is checked with python-stdnum (Customer.clean)."""

    list_display = ("name", "external_id", "currency", "status", "agreement_count", "created_at")
    list_filter = ("status", "currency")
    search_fields = ("name", "external_id", "billing_email")
    inlines = [ContactInline, AgreementInline]
    fieldsets = (
        (None, {"fields": ("name", "external_id", "currency", "status", "churned_at")}),
        (
            "Billing details (printed on invoices)",
            {
                "fields": (
                    "legal_name",
                    "billing_email",
                    "vat_number",
                    "address_line1",
                    "address_line2",
                    ("address_postal_code", "address_city"),
                    "address_state",
                    "address_country",
                    "tax_rate",
                    "payment_terms_days",
                )
            },
        ),
        ("Other", {"fields": ("phone", "website", "metadata")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_agreements=Count("agreements"))

    @admin.display(description="agreements", ordering="_agreements")
    def agreement_count(self, obj):
        return obj._agreements
