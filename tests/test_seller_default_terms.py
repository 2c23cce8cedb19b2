"""The seller's default payment terms are where a new agreement starts."""

import pytest
from django.urls import reverse

from billing.api.paid_order_terms import _payment_terms
from billing.models import SellerProfile

pytestmark = pytest.mark.django_db


def test_a_new_agreement_in_the_admin_starts_with_the_seller_terms(admin_client):
    SellerProfile.objects.filter(pk=1).update(payment_terms_days=45)
    page = admin_client.get(reverse("admin:billing_priceagreement_add")).content.decode()
    assert 'name="payment_terms_days" value="45"' in page


def test_a_paid_order_without_payment_terms_gets_the_seller_terms():
    SellerProfile.objects.filter(pk=1).update(payment_terms_days=14)
    refused = []
    collector = type("C", (), {"add": lambda self, *a: refused.append(a)})()
    assert _payment_terms(None, collector) == 14
    assert _payment_terms("net 60", collector) == 60 and refused == []
