"""Admin of outcome definitions (criteria, preview) and FX rates."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billing.models import (
    ExchangeRate,
    OutcomeCriterion,
    OutcomeDefinition,
)
from billing.selectors import outcome_preview
from config.admin_tools import DECIMAL_WIDGETS, quantity_column


# --- Outcome definitions -------------------------------------------------------------
class CriterionForm(forms.ModelForm):
    value = forms.CharField(
        required=False,
        help_text='JSON or plain text: resolved, 3, true, ["a", "b"].',
        widget=forms.TextInput(attrs={"size": 30}),
    )

    class Meta:
        model = OutcomeCriterion
        fields = ("kind", "field_path", "operator", "value")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["value"] = json.dumps(self.instance.value)

    def clean_value(self):
        raw = (self.cleaned_data.get("value") or "").strip()
        if raw == "":
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw  # plain text is a string


class CriterionInline(admin.TabularInline):
    model = OutcomeCriterion
    form = CriterionForm
    extra = 1


@admin.register(OutcomeDefinition)
class OutcomeDefinitionAdmin(SimpleHistoryAdmin):
    formfield_overrides = DECIMAL_WIDGETS
    list_display = ("name", "agent", "event_name", "partial_rule", "per_workflow")
    list_filter = ("agent", "partial_rule", "per_workflow")
    list_select_related = ("agent",)
    search_fields = ("name", "event_name", "agent__external_id")
    inlines = [CriterionInline]
    readonly_fields = ("preview_link",)
    fieldsets = (
        (None, {"fields": ("agent", "name", "event_name", "description", "per_workflow")}),
        (
            "Partial success",
            {
                "fields": (
                    "partial_rule",
                    "partial_fraction",
                    "ratio_numerator_field",
                    "ratio_denominator_field",
                )
            },
        ),
        ("Accounting export", {"fields": ("account_code",)}),
        ("Try it", {"fields": ("preview_link",)}),
    )

    @admin.display(description="preview")
    def preview_link(self, obj):
        if not obj.pk:
            return "Save the definition, then preview its criteria against recent signals."
        url = reverse("admin:billing_outcomedefinition_preview", args=[obj.pk])
        return format_html(
            '<a class="button" href="{}">Preview against the agent\'s latest 200 signals</a>', url
        )

    def get_urls(self):
        return [
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="billing_outcomedefinition_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id):
        definition = get_object_or_404(
            OutcomeDefinition.objects.select_related("agent"), pk=object_id
        )
        if not self.has_view_permission(request, definition):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Preview of {definition.name}",
            "definition": definition,
            "criteria": definition.criteria.all(),
            "counts": outcome_preview(definition=definition),
        }
        return TemplateResponse(request, "admin/billing/outcomedefinition/preview.html", context)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(SimpleHistoryAdmin):
    formfield_overrides = DECIMAL_WIDGETS
    list_display = ("base_currency", "quote_currency", "rate_display", "effective_on")
    rate_display = quantity_column("rate")
    list_filter = ("base_currency", "quote_currency")
    date_hierarchy = "effective_on"
