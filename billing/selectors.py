"""Reads of billing data that are reused."""

from django.db.models import Count, Q

from agents.models import Signal
from billing.models import OutcomeDefinition


def outcome_preview(*, definition: OutcomeDefinition, limit: int = 200) -> dict[str, int]:
    """Classify the agent's latest `limit` signals against the definition, in one query."""
    criteria = list(definition.criteria.all())
    latest_ids = list(
        Signal.objects.filter(agent_id=definition.agent_id)
        .order_by("-occurred_at", "-id")
        .values_list("id", flat=True)[:limit]
    )
    success = definition.success_q(criteria)
    partial = definition.partial_q(criteria)
    event = Q(event_name=definition.event_name)
    counts = Signal.objects.filter(id__in=latest_ids).aggregate(
        examined=Count("id"),
        of_event=Count("id", filter=event),
        success=Count("id", filter=success),
        partial=Count("id", filter=partial),
    )
    counts["failure"] = counts["of_event"] - counts["success"] - counts["partial"]
    counts["other_events"] = counts["examined"] - counts["of_event"]
    return counts
