"""The margin dashboard, margin alerts and webhook deliveries."""

import csv

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.template.response import TemplateResponse

from agents.models import Agent
from billing.models import (
    MarginAlert,
    MarginFigure,
    WebhookDelivery,
)
from billing.selectors import margin_dashboard, margin_figures
from config.admin_tools import ReadOnlyAdmin
from customers.models import Customer


# --- Margins -----------------------------------------------------------------------------
class DashboardFilters(forms.Form):
    date_from = forms.DateField(
        required=False, label="Periods from", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="to", widget=forms.DateInput(attrs={"type": "date"})
    )
    customer = forms.CharField(required=False, label="Customer external id")
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.all(),
        required=False,
        to_field_name="external_id",
        error_messages={"invalid_choice": "Unknown agent: pick one from the list."},
    )

    def clean_customer(self):
        external_id = self.cleaned_data["customer"].strip()
        if not external_id:
            return None
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None:
            raise ValidationError(f"No customer has the external id “{external_id}”.")
        return customer

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end of the range is before its start: swap them.")
        return data


MARGIN_CSV_FIELDS = [
    "period__starts_at",
    "period__ends_at",
    "customer__external_id",
    "agent__external_id",
    "outcome_definition__name",
    "currency",
    "successes",
    "partials",
    "failures",
    "revenue_outcomes",
    "revenue_allocated",
    "revenue",
    "cost",
    "cost_of_failures",
    "margin",
    "margin_percent",
    "reporting_currency",
    "revenue_reporting",
    "cost_reporting",
    "incomplete",
    "missing_rates",
    "below_target",
]


def margins_csv(queryset, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(MARGIN_CSV_FIELDS)
    for row in queryset.values_list(*MARGIN_CSV_FIELDS).iterator():
        writer.writerow(row)
    return response


@admin.register(MarginFigure)
class MarginFigureAdmin(ReadOnlyAdmin):
    """The margin dashboard: the page an account manager opens every morning."""

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DashboardFilters(request.GET or None)
        filters = {}
        if form.is_bound and form.is_valid():
            filters = {k: v for k, v in form.cleaned_data.items() if v}
        elif form.is_bound:
            messages.error(request, "Some filters were not understood; showing all margins.")
        if request.GET.get("export") == "csv" and not form.errors:
            figures = margin_figures(**filters).order_by("period__starts_at", "customer__name")
            return margins_csv(figures, "margins.csv")
        data = margin_dashboard(**filters)
        # Decimals go to the page as JSON strings (DjangoJSONEncoder); the script reads them
        # with Number(), so no amount passes through a Python float.
        chart_data = {
            "periods": [r["period"] for r in data["by_period"]],
            "revenue": [r["revenue"] for r in data["by_period"]],
            "cost": [r["cost"] for r in data["by_period"]],
            "agents": [r["name"] for r in data["by_agent"]],
            "agent_margin": [r["margin_percent"] for r in data["by_agent"]],
            "customers": [r["name"] for r in data["by_customer"]],
            "customer_margin": [r["margin_percent"] for r in data["by_customer"]],
            "agent_failures": [r["cost_of_failures"] for r in data["by_agent"]],
            "cost_per_outcome": [
                {"outcome": r["outcome"], "models": {k: v for k, v in r["models"].items()}}
                for r in data["cost_per_outcome"]
            ],
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Margin dashboard",
            "form": form,
            "data": data,
            "chart_data": chart_data,
            "reporting_currency": settings.REPORTING_CURRENCY,
            "export_query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/billing/margin_dashboard.html", context)


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ("attempt", "url", "status_code", "delivered", "error", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MarginAlert)
class MarginAlertAdmin(ReadOnlyAdmin):
    list_display = (
        "agreement",
        "period",
        "margin_percent",
        "threshold",
        "created_at",
        "emailed_at",
        "webhook_delivered",
    )
    list_select_related = ("agreement__customer", "period__agreement__customer")
    inlines = [WebhookDeliveryInline]

    def get_queryset(self, request):
        delivered = WebhookDelivery.objects.filter(alert=OuterRef("pk"), delivered=True)
        return super().get_queryset(request).annotate(_delivered=Exists(delivered))

    @admin.display(description="webhook delivered", boolean=True)
    def webhook_delivered(self, obj):
        return obj._delivered
