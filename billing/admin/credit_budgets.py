"""Recurring allowances (Finance: each grant they make is money) and budgets (Finance and
account managers: a spend limit agreed with the customer; one per customer), with the
alerts a budget raised, read-only. Amounts are in the customer's currency."""

from datetime import UTC, datetime, time
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billing.admin.credit_pages import amount_text, customer_credits_url, nowrap
from billing.credit_grants import grant_problems
from billing.models import Budget, BudgetAlert, CreditGrant, RecurringGrant
from billing.money import format_money
from config.admin_tools import DECIMAL_WIDGETS, ReadOnlyAdmin, money_column, time_column
from customers.currencies import minor_unit

# Problems grant_problems reports on a grant's fields, shown on the allowance's own.
ALLOWANCE_FIELD = {"effective_at": "starts_on"}


class RecurringGrantForm(forms.ModelForm):
    class Meta:
        model = RecurringGrant
        fields = (
            "customer",
            "name",
            "kind",
            "unit",
            "currency",
            "outcome_definition",
            "amount",
            "every",
            "starts_on",
            "ends_on",
            "valid_days",
            "priority",
            "applies_to_fees",
            "active",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "currency" in self.fields:
            self.fields["currency"].required = False
            self.fields["currency"].help_text = "Empty: the customer's currency."

    def clean(self):
        data = super().clean()
        customer = data.get("customer") if "customer" in self.fields else self.instance.customer
        if customer is None:
            return data
        if "currency" in self.fields and not data.get("currency"):
            data["currency"] = customer.currency
        values = {name: getattr(self.instance, name, None) for name in self.Meta.fields}
        values.update(data)
        starts_on = values.get("starts_on")
        # Each grant it makes is checked as a grant starting on its date.
        values["effective_at"] = (
            datetime.combine(starts_on, time(), tzinfo=UTC) if starts_on else None
        )
        problems = grant_problems(customer=customer, values=values)
        if values.get("valid_days") == 0:
            problems["valid_days"] = (
                "A grant valid 0 days would expire as it starts: give 1 or more, or leave it "
                "empty (never expires)."
            )
        ends_on = values.get("ends_on")
        if starts_on and ends_on and ends_on < starts_on:
            problems["ends_on"] = "The last date is before the first: swap them."
        for name, message in problems.items():
            name = ALLOWANCE_FIELD.get(name, name)
            if name in self.errors:
                continue
            if name in self.fields:
                self.add_error(name, message)
            elif not self.instance.pk:
                self.add_error(None, message)
        return data


class GrantsMadeInline(admin.TabularInline):
    model = CreditGrant
    fk_name = "recurring"
    fields = ("name", "effective", "expires", "amount_shown", "remaining_shown")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "Grants made"
    effective = time_column("effective_at", description="effective", date_only=True)
    expires = time_column("expires_at", description="expires", date_only=True)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="amount")
    def amount_shown(self, grant):
        return nowrap(amount_text(grant, grant.amount))

    @admin.display(description="remaining")
    def remaining_shown(self, grant):
        return nowrap(amount_text(grant, grant.remaining))


@admin.register(RecurringGrant)
class RecurringGrantAdmin(SimpleHistoryAdmin):
    form = RecurringGrantForm
    formfield_overrides = DECIMAL_WIDGETS
    list_display = ("customer", "name", "kind", "amount_shown", "every", "starts_on", "ends_on")
    list_display += ("valid_days", "active")
    list_filter = ("active", "every", "kind", "unit", "currency")
    list_select_related = ("customer",)
    search_fields = ("name", "customer__name", "customer__external_id")
    autocomplete_fields = ("customer", "outcome_definition")
    inlines = [GrantsMadeInline]

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, allowance):
        return nowrap(amount_text(allowance, allowance.amount))

    def get_readonly_fields(self, request, obj=None):
        return ("customer", "unit", "currency", "outcome_definition") if obj else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # an allowance ends (ends_on) or is made inactive; its grants stay


class BudgetForm(forms.ModelForm):
    class Meta:
        model = Budget
        fields = ("customer", "limit", "amount", "enforcement")

    def clean(self):
        data = super().clean()
        customer = data.get("customer") if "customer" in self.fields else self.instance.customer
        if "customer" in self.fields and customer is not None:
            other = Budget.objects.filter(customer=customer).exclude(pk=self.instance.pk).first()
            if other is not None:
                self.add_error(
                    "customer",
                    "This customer has a budget already (one per customer): edit that one.",
                )
        amount = data.get("amount")
        if "amount" in self.errors:
            return data
        if data.get("limit") == Budget.Limit.CREDITS_ONLY:
            if amount is not None:
                self.add_error(
                    "amount", "A credits-only budget has no amount: clear it, or limit spend."
                )
        elif data.get("limit") == Budget.Limit.SPEND and customer is not None:
            currency = customer.currency
            if amount is None:
                self.add_error("amount", f"Give the most a period may charge, in {currency}.")
            elif amount <= 0:
                self.add_error("amount", "The limit must be a positive amount.")
            elif amount != round(amount, minor_unit(currency)) or amount >= Decimal("1e12"):
                self.add_error(
                    "amount",
                    f"Give the limit in {currency}'s minor unit ({minor_unit(currency)} "
                    "decimal places), below 1,000,000,000,000.",
                )
        return data


class BudgetAlertInline(admin.TabularInline):
    model = BudgetAlert
    fields = ("period", "threshold_shown", "used_shown", "limit_shown", "raised")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Alerts raised (once per threshold and period)"
    period = time_column("period_starts_at", description="period from", date_only=True)
    raised = time_column("raised_at", description="raised")
    used_shown = money_column("used", currency="budget.customer.currency")
    limit_shown = money_column("limit", currency="budget.customer.currency")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("budget__customer")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="threshold")
    def threshold_shown(self, alert):
        return f"{alert.threshold}%"


@admin.register(Budget)
class BudgetAdmin(SimpleHistoryAdmin):
    form = BudgetForm
    formfield_overrides = DECIMAL_WIDGETS
    list_display = ("customer", "limit", "amount_shown", "enforcement", "credits_link")
    list_filter = ("limit", "enforcement")
    list_select_related = ("customer",)
    search_fields = ("customer__name", "customer__external_id")
    autocomplete_fields = ("customer",)
    inlines = [BudgetAlertInline]

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, budget):
        if budget.amount is None:
            return "—"
        currency = budget.customer.currency
        return nowrap(f"{format_money(budget.amount, currency)} {currency}")

    @admin.display(description="credits")
    def credits_link(self, budget):
        return format_html(
            '<a href="{}">Balance and burn-down</a>', customer_credits_url(budget.customer_id)
        )

    def get_readonly_fields(self, request, obj=None):
        return ("customer", "credits_link") if obj else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if "amount" in form.base_fields:
            currency = obj.customer.currency if obj else "the customer's currency"
            form.base_fields["amount"].help_text = (
                f"Spend limits: the most a period may charge, in {currency}. "
                "Credits only: leave empty."
            )
        return form


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyAdmin):
    list_display = ("customer", "period", "threshold_shown", "used_shown", "limit_shown")
    list_display += ("raised",)
    list_filter = ("threshold",)
    list_select_related = ("budget__customer",)
    search_fields = ("budget__customer__name", "budget__customer__external_id")
    period = BudgetAlertInline.period
    raised = BudgetAlertInline.raised
    used_shown = BudgetAlertInline.used_shown
    limit_shown = BudgetAlertInline.limit_shown
    threshold_shown = BudgetAlertInline.threshold_shown

    @admin.display(description="customer", ordering="budget__customer__name")
    def customer(self, alert):
        return alert.budget.customer
