"""Paid's v2 credit balance paths, under /api/v2/. Included before the customers' paths:
`customers/external/<external id>` takes any external id, slashes included, and would
read `.../credits/balances` as part of one."""

from django.urls import path

from billing.api import paid_balances

urlpatterns = [
    path(
        "customers/external/<external_id:external_id>/credits/balances",
        paid_balances.CreditBalancesByExternalId.as_view(),
        name="paid-credit-balances-external",
    ),
    path(
        "customers/<str:id>/credits/balances",
        paid_balances.CreditBalancesById.as_view(),
        name="paid-credit-balances",
    ),
]
