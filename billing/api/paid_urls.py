"""Paid's v2 paths for orders (our price agreements) and invoices, under /api/v2/."""

from django.urls import path

from billing.api import paid_invoices

urlpatterns = [
    path("invoices/", paid_invoices.InvoiceList.as_view(), name="paid-invoice-list"),
    path("invoices/<str:id>", paid_invoices.InvoiceById.as_view(), name="paid-invoice"),
    path(
        "invoices/<str:id>/lines", paid_invoices.InvoiceLines.as_view(), name="paid-invoice-lines"
    ),
]
