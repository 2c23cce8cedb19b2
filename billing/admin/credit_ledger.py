"""The prepaid credit ledger in the admin: read-only, on each grant's page (an inline)
and as one list of every movement; and the list pieces the grant admin shares."""

from django.contrib import admin

from billing.admin.credit_pages import amount_text, document_link, nowrap
from billing.models import CreditGrant, CreditLedgerEntry
from billing.money import format_money
from config.admin_tools import CappedCountPaginator, InputFilter, ReadOnlyAdmin, time_column


def short_label(field: str):
    """A choice column without its explanation: `Paid`, not `Paid (prepaid commitment…)`."""

    @admin.display(description=field, ordering=field)
    def column(model_admin, obj):
        return nowrap(getattr(obj, f"get_{field}_display")().split(" (")[0])

    return column


class CustomerFilter(InputFilter):
    title = "customer external id"
    parameter_name = "customer"

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.lookup: self.value().strip()})
        return queryset

    lookup = "customer__external_id"


class LedgerCustomerFilter(CustomerFilter):
    lookup = "grant__customer__external_id"


class LedgerEntryInline(admin.TabularInline):
    """The grant's ledger, oldest first; never edited."""

    model = CreditLedgerEntry
    fields = (
        "at_shown",
        "kind_shown",
        "amount_shown",
        "value_shown",
        "balance_shown",
        "document",
        "note",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("at", "pk")
    verbose_name_plural = "Ledger (amounts in the grant's unit; value in money)"
    at_shown = time_column("at", description="at")
    kind_shown = short_label("kind")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("grant", "invoice", "credit_note")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="amount")
    def amount_shown(self, entry):
        return nowrap(amount_text(entry.grant, entry.amount))

    @admin.display(description="value")
    def value_shown(self, entry):
        if entry.grant.unit == CreditGrant.Unit.OUTCOMES and not entry.value:
            return "—"  # outcomes granted or lapsed have no money value
        return nowrap(f"{format_money(entry.value, entry.grant.currency)} {entry.grant.currency}")

    @admin.display(description="balance after")
    def balance_shown(self, entry):
        return nowrap(amount_text(entry.grant, entry.balance_after))

    @admin.display(description="invoice / credit note")
    def document(self, entry):
        return document_link(entry)


@admin.register(CreditLedgerEntry)
class CreditLedgerEntryAdmin(ReadOnlyAdmin):
    """Every movement of every grant, newest first (a grant's own page lists its own)."""

    list_display = (
        "at_shown",
        "customer",
        "grant_name",
        "kind_shown",
        "amount_shown",
        "value_shown",
        "balance_shown",
        "document",
    )
    list_filter = ("kind", "grant__unit", LedgerCustomerFilter)
    list_select_related = ("grant__customer", "invoice", "credit_note")
    search_fields = ("grant__name", "grant__customer__external_id", "invoice__number", "note")
    ordering = ("-at", "-pk")
    paginator = CappedCountPaginator
    show_full_result_count = False
    at_shown = time_column("at", description="at")
    amount_shown = LedgerEntryInline.amount_shown
    value_shown = LedgerEntryInline.value_shown
    balance_shown = LedgerEntryInline.balance_shown
    document = LedgerEntryInline.document
    kind_shown = LedgerEntryInline.kind_shown

    @admin.display(description="customer", ordering="grant__customer__name")
    def customer(self, entry):
        return entry.grant.customer.name

    @admin.display(description="grant", ordering="grant__name")
    def grant_name(self, entry):
        return entry.grant.name
