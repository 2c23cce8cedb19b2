"""`{% load money %}`: `{{ amount|money:currency }}` and `{{ quantity|quantity }}`."""

from django import template

from billing.money import format_money, format_quantity

register = template.Library()


@register.filter(name="money")
def money_filter(amount, currency=None) -> str:
    return format_money(amount, currency or None)


@register.filter(name="quantity")
def quantity_filter(quantity) -> str:
    return format_quantity(quantity)
