from django.contrib import admin
from django.db.models import Count

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


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "external_id", "currency", "status", "agreement_count", "created_at")
    list_filter = ("status", "currency")
    search_fields = ("name", "external_id", "billing_email")
    inlines = [ContactInline, AgreementInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_agreements=Count("agreements"))

    @admin.display(description="agreements", ordering="_agreements")
    def agreement_count(self, obj):
        return obj._agreements
