from rest_framework.routers import SimpleRouter

from customers.api.views import CustomerViewSet

router = SimpleRouter(trailing_slash=False)
router.register("v1/customers", CustomerViewSet, basename="customer")
urlpatterns = router.urls
