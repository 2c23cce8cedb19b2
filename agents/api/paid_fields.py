"""The fields of Paid's v2 catalogue requests, declared once: strict body fields (a number
is not a string, a string is not a boolean, a field not declared is refused by name),
and the date filters of its lists. The validator and the OpenAPI schema both come from
these declarations.
"""

import math
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import django_filters
from django import forms
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers

from agents.api.field_checks import data_problem, text_problem
from agents.api.paid_v2 import printable
from config.api import MAX_UTC_OFFSET
from customers.countries import country_parse
from customers.currencies import currency_parse


# --- List filters --------------------------------------------------------------------
class DayOrMomentField(forms.Field):
    """An ISO 8601 date (a whole UTC day) or date-time (without an offset: UTC), as Paid's
    list filters take them: the instants (start, end) it spans, end None for a date-time.
    Offsets past ±15:59 and instants outside years 1..9999 are refused, as the database
    cannot compare them."""

    default_error_messages = {
        "invalid": "Give an ISO 8601 date (2026-06-30) or date-time (2026-06-30T00:00:00Z)."
    }

    def to_python(self, value):
        if value in (None, ""):
            return None
        value = value.strip()
        try:
            day = parse_date(value) if len(value) == 10 else None
            moment = datetime.combine(day, time.min, tzinfo=UTC) if day else parse_datetime(value)
        except ValueError:
            moment = None
        if moment is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if abs(moment.utcoffset()) > MAX_UTC_OFFSET:
            raise forms.ValidationError("The UTC offset must be within ±15:59.", code="invalid")
        try:
            start = moment.astimezone(UTC)
            end = start + timedelta(days=1) if day else None
        except OverflowError:
            raise forms.ValidationError("Out of range.", code="invalid") from None
        return start, end


class FlagFilter(django_filters.ChoiceFilter):
    """true or false, nothing else (django-filter's BooleanFilter ignores `maybe`). With
    a `method`, the method is given the text."""

    def __init__(self, **kwargs):
        super().__init__(choices=[("true", "true"), ("false", "false")], **kwargs)

    def filter(self, queryset, value):
        if value in ("", None):
            return queryset
        return queryset.filter(**{self.field_name: value == "true"})


class MomentFilter(django_filters.Filter):
    """`...From` (on or after) or, with until, `...To` (on or before; a date-only value
    includes its whole UTC day)."""

    field_class = DayOrMomentField

    def __init__(self, *, until: bool = False, **kwargs):
        self.until = until
        kwargs.setdefault(
            "help_text",
            ("On or before" if until else "On or after")
            + " this ISO 8601 date (a UTC day) or date-time.",
        )
        super().__init__(**kwargs)

    def filter(self, queryset, value):
        if not value:
            return queryset
        start, day_end = value
        if not self.until:
            return queryset.filter(**{f"{self.field_name}__gte": start})
        if day_end is not None:
            return queryset.filter(**{f"{self.field_name}__lt": day_end})
        return queryset.filter(**{f"{self.field_name}__lte": start})


# --- Request fields ------------------------------------------------------------------
class StrictSerializer(serializers.Serializer):
    """A request body: a field it does not declare is refused by name, not dropped."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, Mapping):
            known = ", ".join(self.fields)
            for key in data:
                if key not in self.fields:
                    unknown[key] = [f"Unknown field. Known fields: {known}."]
        try:
            value = super().to_internal_value(data)
        except exceptions.ValidationError as exc:
            if not unknown or not isinstance(exc.detail, Mapping):
                raise
            raise exceptions.ValidationError({**exc.detail, **unknown}) from None
        if unknown:
            raise exceptions.ValidationError(unknown)
        return value


class StrictSerializerSchema(OpenApiSerializerExtension):
    """The schema says what StrictSerializer does: `additionalProperties: false`."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        return {**schema, "additionalProperties": False}


class Text(serializers.CharField):
    """A string (a number or a boolean is refused, not converted), kept as sent. A name
    or an id (`single_line`) has no control or invisible characters (text_problem)."""

    default_error_messages = {"invalid": "Must be a string."}

    def __init__(self, *, single_line: bool = True, **kwargs):
        self.single_line = single_line
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if data and self.single_line:
            problem = text_problem(data)
            if problem:
                raise serializers.ValidationError(problem)
        return super().to_internal_value(data)


class Email(serializers.EmailField):
    default_error_messages = {"invalid": "Enter a valid e-mail address."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class Flag(serializers.BooleanField):
    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class WholeNumber(serializers.IntegerField):
    """A JSON integer: not a boolean, not a string of digits, not 1.5."""

    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


@extend_schema_field(OpenApiTypes.NUMBER)
class Number(serializers.Field):
    """A finite JSON number (not a boolean, not a string), read as a Decimal."""

    default_error_messages = {"invalid": "Must be a number (finite, not 1e999)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not math.isfinite(data):
            self.fail("invalid")
        return Decimal(str(data))

    def to_representation(self, value):
        return value


class Metadata(serializers.DictField):
    """A JSON object the database can store (data_problem: no NUL characters, lone
    surrogates, numbers that are not finite, or nesting past 32 levels)."""

    default_error_messages = {"not_a_dict": "Must be a JSON object."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict")
        problem = data_problem(data)
        if problem:
            raise serializers.ValidationError(problem)
        return data


class _Code(serializers.CharField):
    default_error_messages = {"invalid": "Must be a string."}
    parse = staticmethod(str)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if data == "" and self.allow_blank:
            return ""
        try:
            return self.parse(data)
        except ValueError as exc:
            raise serializers.ValidationError(printable(str(exc))) from None


class CurrencyCode(_Code):
    """An ISO 4217 code money can be billed in, any case (currency_parse)."""

    parse = staticmethod(currency_parse)


class CountryCode(_Code):
    """An ISO 3166-1 alpha-2 code, any case (country_parse)."""

    parse = staticmethod(country_parse)


def optional(field_class, **kwargs):
    """A field a body may leave out; null (and "" for text) clears it on an update."""
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_null", True)
    if kwargs.pop("many", False):
        # A list that may be null, of items that may not (`many=True` would pass
        # allow_null to the items too: [null] would reach the code as a line).
        return serializers.ListSerializer(child=field_class(), **kwargs)
    if issubclass(field_class, serializers.CharField):
        kwargs.setdefault("allow_blank", True)
    return field_class(**kwargs)


def validated(serializer_class, data, *, partial: bool = False) -> dict:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
