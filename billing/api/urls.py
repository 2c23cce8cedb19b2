from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api.payments import InvoicePayments
from billing.api.views import InvoiceViewSet, MarginViewSet

router = SimpleRouter(trailing_slash=False)
router.register("v1/margins", MarginViewSet, basename="margin")
router.register("v1/invoices", InvoiceViewSet, basename="invoice")
urlpatterns = [
    path("v1/invoices/<int:pk>/payments", InvoicePayments.as_view(), name="invoice-payments"),
    *router.urls,
]
