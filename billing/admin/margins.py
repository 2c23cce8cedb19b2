"""The margin dashboard and margin alerts (their webhooks: the webhooks app)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse

from agents.models import Agent
from billing import exports
from billing.models import MarginAlert, MarginFigure
from billing.money import format_money
from billing.selectors import margin_chart_data, margin_dashboard, margin_figures
from config.admin_tools import ReadOnlyAdmin, money_column
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


def costs_display(costs: dict[str, str], currency: str) -> str:
    """A stored cost breakdown ({"llm": "2.00000000"}) as `llm 2.00, …`."""
    return ", ".join(
        f"{key} {format_money(value, currency)}" for key, value in sorted(costs.items())
    )


@admin.register(MarginFigure)
class MarginFigureAdmin(ReadOnlyAdmin):
    """The margin dashboard: the page an account manager opens every morning."""

    # One figure's page (reached by its URL; the list is the dashboard), amounts as money.
    revenue_outcomes_display = money_column("revenue_outcomes")
    revenue_allocated_display = money_column("revenue_allocated")
    revenue_display = money_column("revenue")
    cost_display = money_column("cost")
    cost_of_failures_display = money_column("cost_of_failures")
    cost_of_disputes_display = money_column("cost_of_disputes")
    revenue_credited_display = money_column("revenue_credited")
    margin_display = money_column("margin")
    revenue_reporting_display = money_column("revenue_reporting", currency="reporting_currency")
    cost_reporting_display = money_column("cost_reporting", currency="reporting_currency")
    fields = readonly_fields = (
        "period",
        "invoice",
        "customer",
        "agent",
        "outcome_definition",
        "currency",
        "successes",
        "partials",
        "failures",
        "disputed",
        "revenue_outcomes_display",
        "revenue_allocated_display",
        "revenue_credited_display",
        "revenue_display",
        "cost_display",
        "cost_by_category_display",
        "cost_by_model_display",
        "cost_of_failures_display",
        "cost_of_disputes_display",
        "unpriced_costs",
        "margin_display",
        "margin_percent",
        "reporting_currency",
        "revenue_reporting_display",
        "cost_reporting_display",
        "incomplete",
        "missing_rates",
        "below_target",
    )

    @admin.display(description="cost by category")
    def cost_by_category_display(self, obj):
        return costs_display(obj.cost_by_category, obj.currency)

    @admin.display(description="cost by model")
    def cost_by_model_display(self, obj):
        return costs_display(obj.cost_by_model, obj.currency)

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
            return exports.csv_response(
                exports.MARGIN_COLUMNS, exports.margin_rows(figures), filename="margins.csv"
            )
        data = margin_dashboard(**filters)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Margin dashboard",
            "form": form,
            "data": data,
            "chart_data": margin_chart_data(data, currency=settings.REPORTING_CURRENCY),
            "reporting_currency": settings.REPORTING_CURRENCY,
            "export_query": request.GET.urlencode(),
        }
        return TemplateResponse(request, "admin/billing/margin_dashboard.html", context)


@admin.register(MarginAlert)
class MarginAlertAdmin(ReadOnlyAdmin):
    list_display = (
        "agreement",
        "period",
        "margin_percent",
        "threshold",
        "created_at",
        "emailed_at",
    )
    list_select_related = ("agreement__customer", "period__agreement__customer")
