"""Admin pieces shared by the apps: a paginator that never counts a huge table in full,
a text-box list filter, plain decimal inputs, money and quantity columns and a read-only
ModelAdmin."""

from decimal import Decimal
from operator import attrgetter

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from billing.money import format_money, format_quantity


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows, so a changelist of millions of rows stays fast."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()


class InputFilter(admin.SimpleListFilter):
    """A list filter that is a text box, for fields with too many values to list."""

    template = "admin/input_filter.html"

    def lookups(self, request, model_admin):
        # Must return something non-empty for Django to render the filter.
        return ((),)

    def choices(self, changelist):
        all_choice = next(super().choices(changelist))
        all_choice["query_parts"] = (
            (k, v)
            for k, values in changelist.get_filters_params().items()
            for v in values
            if k != self.parameter_name
        )
        yield all_choice


class PlainDecimalInput(forms.NumberInput):
    """Shows 500 rather than 500.00000000 or 0E-8 for amounts stored with 8 places."""

    def format_value(self, value):
        if isinstance(value, Decimal):
            value = format(value.normalize(), "f")
        return super().format_value(value)


DECIMAL_WIDGETS = {models.DecimalField: {"widget": PlainDecimalInput}}


def money_column(
    field: str,
    *,
    currency: str = "currency",
    exact: bool = False,
    code: bool = False,
    description: str = "",
):
    """A read-only column (a ModelAdmin attribute, named in list_display or readonly_fields)
    showing the decimal `field` as money, in the currency at the dotted path `currency` of
    the row (`10,991.74`, JPY `38,323`). `exact` shows the amount exact with at least 2
    places (`0.0045`): unit prices and single costs are often below the minor unit. `code`
    appends the currency code (`10,991.74 USD`), for lists without a currency column."""
    currency_of = attrgetter(currency)

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(model_admin, obj):
        amount, row_currency = getattr(obj, field), currency_of(obj)
        shown = format_money(amount, None if exact else row_currency)
        if code and shown:
            shown = f"{shown} {row_currency}"
        # An amount wrapped over two lines reads as two numbers.
        return format_html('<span style="white-space:nowrap">{}</span>', shown)

    return column


def quantity_column(field: str, *, description: str = ""):
    """A read-only column showing the decimal `field` without trailing zeros (`2.5`)."""

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(model_admin, obj):
        return format_quantity(getattr(obj, field))

    return column


def time_column(field: str, *, description: str = "", date_only: bool = False):
    """A read-only column showing the datetime `field` short, on one line, in the local
    time zone (`2026-11-28 01:31`, or `2026-11-28` with `date_only`), "—" when empty:
    "Nov. 28, 2026, 1:31 a.m." takes three lines in a list that must fit 1366 px."""

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(model_admin, obj):
        value = getattr(obj, field)
        if value is None:
            return "—"
        value = timezone.localtime(value)
        shown = f"{value:%Y-%m-%d}" if date_only else f"{value:%Y-%m-%d %H:%M}"
        return format_html('<span style="white-space:nowrap">{}</span>', shown)

    return column


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows changed only by services (actions), never by editing in the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
