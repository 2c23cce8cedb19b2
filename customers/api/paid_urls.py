"""Paid's v2 paths for customers and contacts (under /api/v2/, as Paid's SDK calls them)."""

from django.urls import path

from customers.api import paid_views as views

urlpatterns = [
    path("customers/", views.CustomerList.as_view(), name="paid-customer-list"),
    path(
        "customers/external/<external_id:external_id>",
        views.CustomerByExternalId.as_view(),
        name="paid-customer-external",
    ),
    path("customers/<str:id>", views.CustomerById.as_view(), name="paid-customer"),
    path("contacts/", views.ContactList.as_view(), name="paid-contact-list"),
    path(
        "contacts/external/<external_id:external_id>",
        views.ContactByExternalId.as_view(),
        name="paid-contact-external",
    ),
    path("contacts/<str:id>", views.ContactById.as_view(), name="paid-contact"),
]
