"""Paid's v2 paths for products (our agents), under /api/v2/."""

from django.urls import path

from agents.api import paid_products as views

urlpatterns = [
    path("products/", views.ProductList.as_view(), name="paid-product-list"),
    path(
        "products/external/<external_id:external_id>",
        views.ProductByExternalId.as_view(),
        name="paid-product-external",
    ),
    path("products/<str:id>", views.ProductById.as_view(), name="paid-product"),
]
