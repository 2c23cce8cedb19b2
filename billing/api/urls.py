from django.urls import path
from rest_framework.routers import SimpleRouter

import agents.api.paid_v2  # noqa: F401 (registers the external_id path converter)
from billing.api.balances import CustomerBalanceView
from billing.api.credit_grants import CreditGrantById, CustomerCreditGrants
from billing.api.credit_notes import CreditNoteById, InvoiceCreditNotes
from billing.api.payments import InvoicePayments
from billing.api.views import InvoiceViewSet, MarginViewSet

router = SimpleRouter(trailing_slash=False)
router.register("v1/margins", MarginViewSet, basename="margin")
router.register("v1/invoices", InvoiceViewSet, basename="invoice")
urlpatterns = [
    path("v1/invoices/<int:pk>/payments", InvoicePayments.as_view(), name="invoice-payments"),
    path(
        "v1/invoices/<int:pk>/credit-notes",
        InvoiceCreditNotes.as_view(),
        name="invoice-credit-notes",
    ),
    path("v1/credit-notes/<int:pk>", CreditNoteById.as_view(), name="credit-note"),
    path(
        "v1/customers/<external_id:external_id>/balance",
        CustomerBalanceView.as_view(),
        name="customer-balance",
    ),
    # Any external id, slashes included.
    path(
        "v1/customers/<external_id:external_id>/credit-grants",
        CustomerCreditGrants.as_view(),
        name="customer-credit-grants",
    ),
    path("v1/credit-grants/<int:pk>", CreditGrantById.as_view(), name="credit-grant"),
    *router.urls,
]
