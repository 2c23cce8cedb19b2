"""Prepaid credit grants in the admin (their ledger: credit_ledger). Finance creates a grant here:
the form applies the checks every surface applies (billing.credit_grants.grant_problems,
each message on its field) and credits.grant_create writes it with its opening ledger
entry. What was granted (customer, unit, currency, amount, kind, source, price) never
changes afterwards; `remaining` moves only with ledger entries; nothing is deleted."""

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billing.admin.credit_ledger import CustomerFilter, LedgerEntryInline, short_label
from billing.admin.credit_pages import amount_text, credit_page_urls, customer_credits_url, nowrap
from billing.credit_grants import TOP_UP_SOURCES, grant_issue, grant_problems, top_up_problems
from billing.models import CreditGrant, CreditLedgerEntry
from config.admin_tools import DECIMAL_WIDGETS, time_column

Kind = CreditLedgerEntry.Kind
# What the add form asks; customer, unit, currency, outcome, amount, kind, source and
# purchase price are fixed once the grant exists.
ADD_FIELDS = (
    "customer",
    "name",
    "kind",
    "source",
    "unit",
    "currency",
    "outcome_definition",
    "amount",
    "purchase_price",
    "effective_at",
    "expires_at",
    "priority",
    "applies_to_fees",
    "note",
)
FIXED = (
    "customer",
    "kind",
    "source",
    "unit",
    "currency",
    "outcome_definition",
    "amount_shown",
    "remaining_shown",
    "purchase_price",
    "purchase_invoice",
    "reference",
    "recurring",
    "created_by",
    "created_at",
    "credits_page",
)
GRANTED = ("unit", "currency", "outcome_definition", "amount", "purchase_price")
CHOSEN_SOURCES = (CreditGrant.Source.ADMIN, *TOP_UP_SOURCES)


class CreditGrantForm(forms.ModelForm):
    class Meta:
        model = CreditGrant
        fields = ADD_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "currency" in self.fields:
            self.fields["currency"].required = False
            self.fields["currency"].help_text = "Empty: the customer's currency."
        if "source" in self.fields:
            self.fields["source"].choices = [
                choice for choice in CreditGrant.Source.choices if choice[0] in CHOSEN_SOURCES
            ]
            self.fields["source"].help_text = (
                "A top-up is billed at its purchase price, on the customer's next invoice or "
                "on its own invoice issued at once."
            )

    def clean(self):
        data = super().clean()
        customer = data.get("customer") if "customer" in self.fields else self.instance.customer
        if customer is None:
            return data  # the customer field says what to fix
        if "currency" in self.fields and not data.get("currency"):
            data["currency"] = customer.currency
        values = {name: getattr(self.instance, name, None) for name in ADD_FIELDS}
        if not self.instance.pk:
            values = {}
        values.update(data)
        problems = grant_problems(customer=customer, values=values)
        source = values.get("source") or CreditGrant.Source.ADMIN
        if values.get("purchase_price") is not None and source not in TOP_UP_SOURCES:
            problems.setdefault(
                "purchase_price",
                "Only a top-up is invoiced: clear the purchase price or choose Top-up.",
            )
        if not self.instance.pk and source in TOP_UP_SOURCES:
            for name, message in top_up_problems(customer=customer, values=values).items():
                problems.setdefault(name, message)
        for name, message in problems.items():
            if name in self.errors:
                continue  # its own error says it already
            if name in self.fields:
                self.add_error(name, message)
            elif not self.instance.pk:
                self.add_error(None, message)
        return data


class GrantStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("live", "Live (effective, credits left)"),
            ("later", "Not yet effective"),
            ("used", "Used up"),
            ("cancelled", "Cancelled (top-up credited or voided)"),
            ("expired", "Expired"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        not_expired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        if self.value() == "live":
            return queryset.filter(not_expired, effective_at__lte=now, remaining__gt=0)
        if self.value() == "later":
            return queryset.filter(effective_at__gt=now)
        if self.value() == "used":
            return queryset.filter(remaining=0).exclude(
                entries__kind__in=(Kind.EXPIRY, Kind.CANCELLATION)
            )
        if self.value() == "cancelled":
            return queryset.filter(remaining=0, entries__kind=Kind.CANCELLATION).distinct()
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        return queryset


@admin.register(CreditGrant)
class CreditGrantAdmin(SimpleHistoryAdmin):
    form = CreditGrantForm
    formfield_overrides = DECIMAL_WIDGETS
    list_display = (
        "customer_name",
        "name",
        "kind_shown",
        "unit_shown",
        "amount_shown",
        "remaining_shown",
        "effective",
        "expires",
        "source_shown",
        "credits_link",
    )
    list_filter = (
        GrantStateFilter,
        "kind",
        "unit",
        "source",
        ("currency", admin.AllValuesFieldListFilter),
        CustomerFilter,
    )
    list_select_related = ("customer",)
    search_fields = ("name", "customer__name", "customer__external_id", "reference")
    autocomplete_fields = ("customer", "outcome_definition")
    inlines = [LedgerEntryInline]
    effective = time_column("effective_at", description="effective", date_only=True)
    expires = time_column("expires_at", description="expires", date_only=True)

    # The list shows the short labels ("Paid", "Top-up"): the long ones are the filters'.
    kind_shown = short_label("kind")
    source_shown = short_label("source")

    @admin.display(description="customer", ordering="customer__name")
    def customer_name(self, grant):
        return grant.customer.name

    @admin.display(description="unit", ordering="unit")
    def unit_shown(self, grant):
        return grant.unit.capitalize()

    @admin.display(description="amount", ordering="amount")
    def amount_shown(self, grant):
        return nowrap(amount_text(grant, grant.amount))

    @admin.display(description="remaining", ordering="remaining")
    def remaining_shown(self, grant):
        return nowrap(amount_text(grant, grant.remaining))

    @admin.display(description="credits")
    def credits_link(self, grant):
        url = customer_credits_url(grant.customer_id)
        return format_html('<a href="{}" title="Balance and burn-down">credits</a>', url)

    @admin.display(description="credits of the customer")
    def credits_page(self, grant):
        url = customer_credits_url(grant.customer_id)
        return format_html(
            '<a href="{}">Balance, burn-down and forecast of {}</a>', url, grant.customer.name
        )

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("effective_at", timezone.now())
        return initial

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ("customer", "name", "kind", "source", "note")}),
                ("Granted", {"fields": GRANTED}),
                (
                    "When and in which order",
                    {"fields": ("effective_at", "expires_at", "priority", "applies_to_fees")},
                ),
            ]
        return [
            (None, {"fields": ("customer", "name", "kind", "source", "note", "credits_page")}),
            (
                "Granted (fixed once created)",
                {
                    "fields": (
                        "unit",
                        "currency",
                        "outcome_definition",
                        "amount_shown",
                        "remaining_shown",
                        "purchase_price",
                        "purchase_invoice",
                        "recurring",
                        "reference",
                    )
                },
            ),
            (
                "When and in which order",
                {"fields": ("effective_at", "expires_at", "priority", "applies_to_fees")},
            ),
            ("Created", {"fields": ("created_by", "created_at")}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        fixed = list(FIXED)
        entries = set(obj.entries.values_list("kind", flat=True))
        if entries - {Kind.GRANT}:
            fixed.append("effective_at")  # drawn (or written off) from that date on
        if Kind.EXPIRY in entries:
            fixed.append("expires_at")  # written off: a later expiry would not bring it back
        return fixed

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        if change:
            # Onto the row as it is now, locked, and only the edited columns: a close may
            # have drawn the grant since the page was read, and its `remaining` must not
            # be written back (nor recorded stale in the history).
            if form.changed_data:
                with transaction.atomic():
                    current = CreditGrant.objects.select_for_update().get(pk=obj.pk)
                    for name in form.changed_data:
                        setattr(current, name, getattr(obj, name))
                    current._history_user = request.user
                    current.save(update_fields=form.changed_data)
                obj.remaining = current.remaining
            return
        fields = {name: form.cleaned_data[name] for name in ADD_FIELDS if name != "customer"}
        grant = grant_issue(customer=form.cleaned_data["customer"], user=request.user, **fields)
        for model_field in CreditGrant._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(grant, model_field.attname))
        obj._state.adding, obj._state.db = False, grant._state.db

    def get_urls(self):
        return [*credit_page_urls(self), *super().get_urls()]
