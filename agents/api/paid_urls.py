"""Paid's v2 catalogue API under /api/v2/: each app's paths (by dotted name, so that
agents imports no billing code), then a JSON 404 for Paid's other paths."""

from django.urls import include, path, re_path

from agents.api.paid_v2 import UnsupportedPaidEndpoint

urlpatterns = [
    # Before the customers' paths, whose external id would swallow `/credits/balances`.
    path("", include("billing.api.paid_balance_urls")),
    path("", include("customers.api.paid_urls")),
    path("", include("agents.api.paid_product_urls")),
    path("", include("billing.api.paid_urls")),
    re_path(
        r"^(?P<rest>(customers|contacts|products|orders|invoices)(/[\s\S]*)?)$",
        UnsupportedPaidEndpoint.as_view(),
    ),
]
