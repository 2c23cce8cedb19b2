"""Criteria: a value that does not fit its operator is refused; valid criteria classify
signals in the database (success / partial / failure) the same on SQLite and PostgreSQL."""

import pytest
from django.core.exceptions import ValidationError

from agents.models import Signal
from billing.models import OutcomeCriterion
from billing.selectors import outcome_preview
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("operator", "value", "message"),
    [
        ("gt", "abc", "compares numbers"),
        ("lte", True, "compares numbers"),
        ("in", "resolved", "non-empty JSON list"),
        ("in", [], "non-empty JSON list"),
        ("in", [{"a": 1}], "plain values"),
        ("exists", "yes", "true (the field is present)"),
        ("eq", {"a": 1}, "plain value"),
    ],
)
def test_value_must_fit_operator(operator, value, message):
    criterion = OutcomeCriterion(
        definition=f.OutcomeDefinitionFactory.build(),
        field_path="status",
        operator=operator,
        value=value,
    )
    with pytest.raises(ValidationError) as exc:
        criterion.clean()
    assert message in " ".join(exc.value.message_dict["value"])


def test_field_path_without_empty_parts():
    criterion = OutcomeCriterion(field_path="result..status", operator="eq", value="ok")
    with pytest.raises(ValidationError) as exc:
        criterion.clean()
    assert "field_path" in exc.value.message_dict


def classify(definition, payloads):
    for data in payloads:
        f.SignalFactory(agent=definition.agent, event_name=definition.event_name, data=data)
    qs = Signal.objects.filter(agent=definition.agent)
    success = set(qs.filter(definition.success_q()).values_list("data", flat=True).order_by("id"))
    return (
        qs.filter(definition.success_q()).count(),
        qs.filter(definition.partial_q()).count(),
        success,
    )


@pytest.mark.parametrize(
    ("operator", "value", "matching", "not_matching"),
    [
        ("eq", "resolved", {"x": "resolved"}, {"x": "open"}),
        ("eq", True, {"x": True}, {"x": False}),
        ("eq", 3, {"x": 3}, {"x": 4}),
        ("ne", "error", {"x": "ok"}, {"x": "error"}),
        ("ne", "error", {"y": 1}, {"x": "error"}),  # a missing field is "not equal"
        ("gt", 10, {"x": 10.5}, {"x": 10}),
        ("gte", 10, {"x": 10}, {"x": 9.99}),
        ("lt", 0.5, {"x": 0.25}, {"x": 0.5}),
        ("lte", 0.5, {"x": 0.5}, {"x": 0.51}),
        ("in", ["a", "b"], {"x": "b"}, {"x": "c"}),
        ("exists", True, {"x": None}, {"y": 1}),
        ("exists", False, {"y": 1}, {"x": 0}),
    ],
)
def test_each_operator_in_the_database(operator, value, matching, not_matching):
    definition = f.OutcomeDefinitionFactory()
    f.OutcomeCriterionFactory(definition=definition, field_path="x", operator=operator, value=value)
    f.SignalFactory(agent=definition.agent, event_name=definition.event_name, data=matching)
    f.SignalFactory(agent=definition.agent, event_name=definition.event_name, data=not_matching)
    found = list(Signal.objects.filter(definition.success_q()).values_list("data", flat=True))
    assert found == [matching]


def test_nested_paths():
    definition = f.OutcomeDefinitionFactory()
    f.OutcomeCriterionFactory(
        definition=definition, field_path="result.status", operator="eq", value="done"
    )
    f.OutcomeCriterionFactory(
        definition=definition, field_path="result.pages", operator="exists", value=True
    )
    f.SignalFactory(agent=definition.agent, data={"result": {"status": "done", "pages": 3}})
    f.SignalFactory(agent=definition.agent, data={"result": {"status": "done"}})
    f.SignalFactory(agent=definition.agent, data={"status": "done"})
    assert Signal.objects.filter(definition.success_q()).count() == 1


def test_success_partial_failure_and_other_events_in_preview():
    definition = f.OutcomeDefinitionFactory(
        event_name="ticket_resolved", partial_rule="fixed", partial_fraction="0.4"
    )
    f.OutcomeCriterionFactory(definition=definition, field_path="resolution", value="resolved")
    f.OutcomeCriterionFactory(
        definition=definition,
        kind="partial",
        field_path="resolution",
        value="escalated_with_draft",
    )
    for resolution, n in [("resolved", 5), ("escalated_with_draft", 3), ("abandoned", 2)]:
        for _ in range(n):
            f.SignalFactory(
                agent=definition.agent,
                event_name="ticket_resolved",
                data={"resolution": resolution},
            )
    f.SignalFactory(agent=definition.agent, event_name="ticket_opened")
    counts = outcome_preview(definition=definition)
    assert counts == {
        "examined": 11,
        "of_event": 10,
        "success": 5,
        "partial": 3,
        "failure": 2,
        "other_events": 1,
    }


def test_preview_looks_at_latest_signals_only():
    definition = f.OutcomeDefinitionFactory()
    for _ in range(5):
        f.SignalFactory(agent=definition.agent, event_name=definition.event_name)
    assert outcome_preview(definition=definition, limit=3)["examined"] == 3


def test_ratio_partial_with_zero_or_missing_denominator_is_a_failure():
    definition = f.OutcomeDefinitionFactory(
        partial_rule="ratio", ratio_numerator_field="done", ratio_denominator_field="total"
    )
    f.OutcomeCriterionFactory(definition=definition, field_path="status", value="ok")
    f.OutcomeCriterionFactory(
        definition=definition, kind="partial", field_path="status", value="partial"
    )
    for data in [
        {"status": "partial", "done": 1, "total": 4},
        {"status": "partial", "done": 1, "total": 0},
        {"status": "partial", "done": 1},
    ]:
        f.SignalFactory(agent=definition.agent, data=data)
    counts = outcome_preview(definition=definition)
    assert (counts["partial"], counts["failure"]) == (1, 2)
