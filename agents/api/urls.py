from django.urls import include, path
from rest_framework.routers import SimpleRouter

from agents.api import views

router = SimpleRouter(trailing_slash=False)
router.register("v1/signals", views.SignalViewSet, basename="signal")
router.register("v1/costs", views.CostViewSet, basename="cost")
router.register("v1/agents", views.AgentViewSet, basename="agent")

urlpatterns = [
    *router.urls,
    path("v2/signals/bulk", views.PaidSignalsBulkView.as_view(), name="v2-signals-bulk"),
    path("v2/costs/bulk", views.PaidCostsBulkView.as_view(), name="v2-costs-bulk"),
    # Paid's catalogue: customers, contacts, products, orders, invoices.
    path("v2/", include("agents.api.paid_urls")),
]
