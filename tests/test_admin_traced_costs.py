"""What a person sees of traced costs in the admin: an outcome signal's costs by span
(model, tokens, amount, "unpriced"), the costs list filtered to unpriced ones, and the
margin dashboard's warning that unpriced calls are left out; for each staff role."""

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from agents.models import Cost
from billing.services import period_close
from tests.otlp_helpers import llm, span
from tests.test_trace_attribution import GPT4O_CALL, signal, traces, world  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def traced(client, world):  # noqa: F811
    traces(
        client,
        world,
        span(llm(paid_scope_id=8), name="paid.trace.ChatCompletion"),
        span(llm(paid_scope_id=8, model="house-model-7", prompt=50, completion=5), name="house"),
    )
    outcome = signal(client, world, {"paid": {"paid_scope_id": 8}})
    period_close(period_id=world.period().pk)
    return outcome


def login(client, group):
    user = User.objects.create_user(group.replace(" ", "-"), password="pw-1234567", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)


@pytest.mark.parametrize("group", ["Finance", "Account managers", "Viewers"])
def test_an_outcome_signal_lists_its_costs_by_span(client, traced, group):
    login(client, group)
    page = client.get(reverse("admin:agents_signal_change", args=[traced.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "costs of this signal, by span" in html.lower()
    for shown in (
        "paid.trace.ChatCompletion",
        "gpt-4o-2024-08-06",
        "1000",
        "200",
        "0.0045 USD",
        "house-model-7",
        "unpriced",
    ):
        assert shown in html, shown
    assert "0.00450000" not in html


def test_the_costs_list_filters_unpriced_ones(admin_client, traced):
    page = admin_client.get(reverse("admin:agents_cost_changelist"), {"priced": "no"})
    assert [c.model for c in page.context["cl"].result_list] == ["house-model-7"]
    page = admin_client.get(reverse("admin:agents_cost_changelist"), {"priced": "yes"})
    assert [c.model for c in page.context["cl"].result_list] == ["gpt-4o-2024-08-06"]


@pytest.mark.parametrize("group", ["Finance", "Viewers"])
def test_the_dashboard_warns_that_unpriced_calls_are_left_out(client, traced, group):
    login(client, group)
    page = client.get(reverse("admin:billing_marginfigure_changelist"))
    html = page.content.decode()
    assert "1 LLM call on models the price catalogue does not know has no amount" in html
    assert page.context["data"]["unpriced_costs"] == 1
    assert Cost.objects.filter(amount__isnull=True).count() == 1


def test_without_a_staff_role_nothing_is_shown(client, traced):
    user = User.objects.create_user("nobody", password="pw-1234567", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:agents_signal_change", args=[traced.pk])).status_code == 403
    assert client.get(reverse("admin:agents_cost_changelist")).status_code == 403
