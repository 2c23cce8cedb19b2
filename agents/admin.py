from django.contrib import admin
from django.db.models import Count
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
    change_list_template = "admin/agents/signal/change_list.html"

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
        AttributedFilter,
        ("occurred_at", admin.DateFieldListFilter),
    )
    search_fields = ("=external_customer_id", "=idempotency_key", "=workflow_id", "=model")
    fields = readonly_fields = [
        "amount_display" if f.name == "amount" else f.name
        for f in Cost._meta.fields
        if f.name != "currency"
    ]
    # A single cost is often a fraction of the minor unit (0.0045 USD): shown exact.
    amount_display = money_column("amount", exact=True, code=True)
