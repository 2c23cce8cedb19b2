import pytest
from django.contrib.auth.models import Group, User

pytestmark = pytest.mark.django_db


def user_in(group_name):
    user = User.objects.create_user(
        group_name.replace(" ", ""), password="x-123456-y", is_staff=True
    )
    user.groups.add(Group.objects.get(name=group_name))
    return User.objects.get(pk=user.pk)  # fresh permission cache


def test_account_managers_edit_deals_but_not_fx_or_facts():
    user = user_in("Account managers")
    for perm in [
        "customers.change_customer",
        "agents.add_agent",
        "billing.change_priceagreement",
        "billing.add_pricetier",
        "billing.change_outcomedefinition",
    ]:
        assert user.has_perm(perm), perm
    assert user.has_perm("agents.view_signal")
    assert not user.has_perm("billing.change_exchangerate")
    assert not user.has_perm("agents.change_signal")


def test_finance_also_keeps_fx_rates():
    user = user_in("Finance")
    assert user.has_perm("billing.add_exchangerate")
    assert user.has_perm("billing.change_priceagreement")


def test_viewers_read_only():
    user = user_in("Viewers")
    assert user.has_perm("billing.view_priceagreement") and user.has_perm("agents.view_signal")
    assert not any(
        p.split(".")[1].startswith(("add_", "change_", "delete_"))
        for p in user.get_all_permissions()
    )


def test_viewer_cannot_save_in_admin(client):
    client.force_login(user_in("Viewers"))
    assert client.get("/admin/billing/priceagreement/").status_code == 200
    assert client.get("/admin/billing/priceagreement/add/").status_code == 403


def test_prepaid_credits_finance_grants_account_managers_keep_budgets():
    finance, managers, viewers = (
        user_in(name) for name in ("Finance", "Account managers", "Viewers")
    )
    assert finance.has_perms(
        [
            "billing.add_creditgrant",
            "billing.change_creditgrant",
            "billing.add_recurringgrant",
            "billing.change_budget",
            "billing.delete_budget",
            "billing.view_creditledgerentry",
        ]
    )
    assert managers.has_perms(
        ["billing.view_creditgrant", "billing.view_creditledgerentry", "billing.change_budget"]
    )
    assert not managers.has_perm("billing.add_creditgrant")
    assert not managers.has_perm("billing.add_recurringgrant")
    assert not managers.has_perm("billing.delete_budget")
    assert viewers.has_perms(["billing.view_creditgrant", "billing.view_budgetalert"])
    for user in (finance, managers, viewers):
        assert not user.has_perm("billing.delete_creditgrant")
        assert not user.has_perm("billing.change_creditledgerentry")
