"""Outcome definitions: criteria edited inline and validated at the field; a preview
of the criteria against the agent's latest signals."""

import pytest

from billing.models import OutcomeCriterion, OutcomeDefinition
from tests import factories as f

pytestmark = pytest.mark.django_db

URL = "/admin/billing/outcomedefinition/add/"


def post_data(agent, criteria, **extra):
    data = {
        "agent": agent.pk,
        "name": "Docs",
        "event_name": "document_processed",
        "description": "",
        "partial_rule": "none",
        "partial_fraction": "",
        "ratio_numerator_field": "",
        "ratio_denominator_field": "",
        "criteria-TOTAL_FORMS": str(len(criteria)),
        "criteria-INITIAL_FORMS": "0",
        "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "1000",
        **extra,
    }
    for i, (kind, path, op, value) in enumerate(criteria):
        data |= {
            f"criteria-{i}-kind": kind,
            f"criteria-{i}-field_path": path,
            f"criteria-{i}-operator": op,
            f"criteria-{i}-value": value,
        }
    return data


def test_criteria_saved_inline_with_plain_text_and_json_values(admin_client):
    agent = f.AgentFactory()
    response = admin_client.post(
        URL,
        post_data(
            agent,
            [
                ("success", "status", "eq", "extracted"),
                ("success", "pages", "gt", "0"),
                ("partial", "status", "in", '["partial", "draft"]'),
            ],
        ),
    )
    assert response.status_code == 302
    values = list(OutcomeCriterion.objects.order_by("id").values_list("value", flat=True))
    assert values == ["extracted", 0, ["partial", "draft"]]


def test_criterion_value_not_fitting_operator_rejected_and_nothing_saved(admin_client):
    agent = f.AgentFactory()
    response = admin_client.post(URL, post_data(agent, [("success", "pages", "gt", "many")]))
    assert response.status_code == 200
    form = response.context["inline_admin_formsets"][0].formset.forms[0]
    assert "compares numbers" in " ".join(form.errors["value"])
    assert not OutcomeDefinition.objects.exists()


def test_fixed_rule_needs_fraction(admin_client):
    agent = f.AgentFactory()
    response = admin_client.post(URL, post_data(agent, [], partial_rule="fixed"))
    assert "partial_fraction" in response.context["adminform"].form.errors


def test_preview_page_counts(admin_client):
    definition = f.OutcomeDefinitionFactory()
    f.OutcomeCriterionFactory(definition=definition, field_path="status", value="ok")
    f.SignalFactory(agent=definition.agent, data={"status": "ok"})
    f.SignalFactory(agent=definition.agent, data={"status": "bad"})
    response = admin_client.get(f"/admin/billing/outcomedefinition/{definition.pk}/preview/")
    assert response.status_code == 200
    assert response.context["counts"]["success"] == 1
    assert response.context["counts"]["failure"] == 1
    assert b'id="count-success">1<' in response.content
