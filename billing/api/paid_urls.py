"""Paid's v2 paths for orders (our price agreements) and invoices, under /api/v2/."""

from django.urls import path

from billing.api import paid_invoices, paid_orders

urlpatterns = [
    path("orders/", paid_orders.OrderList.as_view(), name="paid-order-list"),
    path("orders/<str:id>", paid_orders.OrderById.as_view(), name="paid-order"),
    path(
        "orders/<str:id>/activate",
        paid_orders.OrderActivate.as_view(),
        name="paid-order-activate",
    ),
    path("orders/<str:id>/lines", paid_orders.OrderLines.as_view(), name="paid-order-lines"),
    path("invoices/", paid_invoices.InvoiceList.as_view(), name="paid-invoice-list"),
    path("invoices/<str:id>", paid_invoices.InvoiceById.as_view(), name="paid-invoice"),
    path(
        "invoices/<str:id>/lines", paid_invoices.InvoiceLines.as_view(), name="paid-invoice-lines"
    ),
]
