from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from rest_framework_api_key.admin import APIKeyModelAdmin

from agents.models import Agent, AgentAPIKey, Cost, Signal, StaffAPIKey
from config.admin_tools import CappedCountPaginator, InputFilter, ReadOnlyAdmin, money_column


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("name", "external_id", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("name", "external_id")
    prepopulated_fields = {"external_id": ("name",)}


@admin.register(AgentAPIKey)
class AgentAPIKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "agent")
    list_select_related = ("agent",)
    raw_id_fields = ("agent",)


@admin.register(StaffAPIKey)
class StaffAPIKeyAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "user")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


class EventNameFilter(InputFilter):
    title = "event name"
    parameter_name = "event"

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event_name=self.value().strip())
        return queryset


class AttributedFilter(admin.SimpleListFilter):
    title = "attribution"
    parameter_name = "attributed"

    def lookups(self, request, model_admin):
        return (("yes", "Attributed to a customer"), ("no", "Unattributed (customer unknown)"))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(customer__isnull=False)
        if self.value() == "no":
            return queryset.filter(customer__isnull=True)
        return queryset


class PricedFilter(admin.SimpleListFilter):
    title = "priced"
    parameter_name = "priced"

    def lookups(self, request, model_admin):
        return (("no", "Unpriced (model unknown to the catalogue)"), ("yes", "With an amount"))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(amount__isnull=self.value() == "no")
        return queryset


exact_amount = money_column("amount", exact=True, code=True)


@admin.display(description="amount", ordering="amount")
def amount_or_unpriced(model_admin, obj):
    """A cost's amount exact (`0.0045 USD`: single costs are often below the minor unit),
    or a flag for a cost the catalogue could not price."""
    if obj.amount is None:
        return format_html(
            '<span style="color:#b45309;white-space:nowrap" title="{}">unpriced</span>',
            "The price catalogue does not know this model; the cost is left out of margins "
            "and counted as unpriced.",
        )
    return exact_amount(model_admin, obj)


class SpanCostsInline(admin.TabularInline):
    """An outcome signal's costs, one row per LLM span (or per cost in its data)."""

    model = Cost
    fk_name = "signal"
    verbose_name = "cost"
    verbose_name_plural = "costs of this signal, by span"
    fields = readonly_fields = (
        "span_name",
        "vendor",
        "model",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "amount_display",
        "category",
        "span_id",
    )
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("occurred_at", "id")
    amount_display = amount_or_unpriced

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class FactAdmin(ReadOnlyAdmin):
    """Signals and costs are facts: read-only, on tables that grow large."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_select_related = ("agent", "customer")
    ordering = ("-id",)
    list_per_page = 100

    @admin.display(description="customer", ordering="customer__name")
    def customer_display(self, obj):
        if obj.customer_id is None:
            return format_html(
                '<span style="color:#b45309">unattributed: {}</span>', obj.external_customer_id
            )
        return obj.customer.name


@admin.register(Signal)
class SignalAdmin(FactAdmin):
    list_display = (
        "id",
        "event_name",
        "agent",
        "customer_display",
        "occurred_at",
        "received_at",
        "workflow_id",
    )
    list_filter = (
        "agent",
        "customer",
        EventNameFilter,
        AttributedFilter,
        ("occurred_at", admin.DateFieldListFilter),
    )
    search_fields = ("=external_customer_id", "=idempotency_key", "=workflow_id", "=event_name")
    readonly_fields = [f.name for f in Signal._meta.fields]
    inlines = [SpanCostsInline]
    change_list_template = "admin/agents/signal/change_list.html"
    actions = ["dispute_selected"]

    def has_dispute_permission(self, request):
        return request.user.has_perm("billing.add_dispute")

    @admin.action(description="Dispute the selected outcomes", permissions=["dispute"])
    def dispute_selected(self, request, queryset):
        """Opens the dispute form with these outcomes (of one customer) filled in."""
        rows = list(queryset.values_list("pk", "customer__external_id").order_by("pk")[:1000])
        customers = {external_id for _, external_id in rows}
        if len(customers) != 1 or None in customers:
            self.message_user(
                request,
                "Pick outcomes of one customer (attributed signals) to dispute together.",
                messages.ERROR,
            )
            return None
        query = urlencode(
            {"customer": customers.pop(), "signals": ", ".join(str(pk) for pk, _ in rows)}
        )
        return HttpResponseRedirect(f"{reverse('admin:billing_dispute_add')}?{query}")

    def changelist_view(self, request, extra_context=None):
        # How many signals wait per external id: served by the partial index.
        waiting = (
            Signal.objects.filter(customer__isnull=True)
            .values("external_customer_id")
            .annotate(count=Count("id"))
            .order_by("-count")[:20]
        )
        extra_context = {**(extra_context or {}), "waiting": list(waiting)}
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(Cost)
class CostAdmin(FactAdmin):
    list_display = (
        "id",
        "category",
        "amount_display",
        "vendor",
        "model",
        "agent",
        "customer_display",
        "signal_id",
        "occurred_at",
    )
    list_filter = (
        "agent",
        "customer",
        "category",
        PricedFilter,
        AttributedFilter,
        ("occurred_at", admin.DateFieldListFilter),
    )
    search_fields = (
        "=external_customer_id",
        "=idempotency_key",
        "=workflow_id",
        "=model",
        "=trace_id",
        "=scope_id",
    )
    fields = readonly_fields = [
        "amount_display" if f.name == "amount" else f.name
        for f in Cost._meta.fields
        if f.name != "currency"
    ]
    amount_display = amount_or_unpriced
