from rest_framework.routers import SimpleRouter

from billing.api.views import InvoiceViewSet, MarginViewSet

router = SimpleRouter(trailing_slash=False)
router.register("v1/margins", MarginViewSet, basename="margin")
router.register("v1/invoices", InvoiceViewSet, basename="invoice")
urlpatterns = router.urls
