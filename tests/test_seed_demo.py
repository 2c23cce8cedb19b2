import pytest
from django.core.management import call_command

from agents.models import Cost, Signal
from billing.models import Price, PriceAgreement, PriceTier
from customers.models import Customer

pytestmark = pytest.mark.django_db


def snapshot():
    return {
        model.__name__: sorted(model.objects.values_list("pk", flat=True))
        for model in (Customer, PriceAgreement, Price, PriceTier, Signal, Cost)
    }


def test_seed_demo_is_idempotent_and_covers_every_pricing_model(capsys):
    call_command("seed_demo", signals=800)
    first = snapshot()
    call_command("seed_demo", signals=800)
    assert snapshot() == first
    assert Customer.objects.count() == 10
    models = set(Price.objects.values_list("model", flat=True))
    assert models == {"per_outcome", "graduated", "volume", "percent_of_value", "cost_plus"}
    assert Signal.objects.filter(customer__isnull=True).exists()  # some unattributed
    assert Cost.objects.filter(category="llm").exists()
    assert Cost.objects.filter(category="infrastructure").exists()
    assert "admin/admin" not in capsys.readouterr().out  # DEBUG is off under tests


def test_demo_logins_only_when_debug(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo", signals=0)
    out = capsys.readouterr().out
    assert "manager/manager" in out
    from django.contrib.auth.models import User

    manager = User.objects.get(username="manager")
    assert manager.groups.filter(name="Account managers").exists()
