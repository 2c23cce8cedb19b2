"""Filters of Paid's order list (/api/v2/orders/): by customer, state and dates."""

from datetime import time, timedelta

import django_filters
from django.db.models import Q
from django.utils import timezone

from agents.api.paid_fields import DayOrMomentField
from billing.api.paid_invoice_serializers import digits
from billing.models import PriceAgreement


class DayInstantFilter(django_filters.Filter):
    """From/To on an instant kept as a date: midnight UTC of the date, plus `shift` days
    (an order's end is the day after the agreement's last day)."""

    field_class = DayOrMomentField

    def __init__(self, *, until: bool = False, shift: int = 0, **kwargs):
        self.until, self.shift = until, timedelta(days=shift)
        super().__init__(**kwargs)

    def filter(self, queryset, value):
        if not value:
            return queryset
        start, day_end = value
        try:
            if self.until:  # midnight(date + shift) <= the last instant asked for
                last = day_end - timedelta(microseconds=1) if day_end else start
                return queryset.filter(**{f"{self.field_name}__lte": last.date() - self.shift})
            first = start.date() + timedelta(days=start.time() != time.min)
            return queryset.filter(**{f"{self.field_name}__gte": first - self.shift})
        except OverflowError:  # past year 9999 or before year 1: no date is there
            return queryset.none()


class OrderFilter(django_filters.FilterSet):
    customerId = django_filters.CharFilter(method="by_id", field_name="customer_id")
    externalCustomerId = django_filters.CharFilter(field_name="customer__external_id")
    externalId = django_filters.CharFilter(
        method="none", help_text="Orders here have no external id: finds none."
    )
    creationState = django_filters.ChoiceFilter(
        choices=[("draft", "draft"), ("active", "active")],
        method="by_creation_state",
        help_text="Orders here are all active: draft finds none.",
    )
    status = django_filters.ChoiceFilter(
        choices=[(s, s) for s in ("draft", "paused", "active", "ended")],
        method="by_status",
        help_text="ended: its end date has passed; active: the others (never draft or paused).",
    )
    startDateFrom = DayInstantFilter(field_name="starts_on")
    startDateTo = DayInstantFilter(field_name="starts_on", until=True)
    endDateFrom = DayInstantFilter(field_name="ends_on", shift=1)
    endDateTo = DayInstantFilter(field_name="ends_on", shift=1, until=True)

    class Meta:
        model = PriceAgreement
        fields = []

    def by_id(self, queryset, name, value):
        number = digits(value)
        return queryset.none() if number is None else queryset.filter(**{name: number})

    def none(self, queryset, name, value):
        return queryset.none()

    def by_creation_state(self, queryset, name, value):
        return queryset.none() if value == "draft" else queryset

    def by_status(self, queryset, name, value):
        today = timezone.now().date()
        ended = Q(ends_on__lt=today)
        if value == "ended":
            return queryset.filter(ended)
        return queryset.exclude(ended) if value == "active" else queryset.none()
