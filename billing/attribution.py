"""Before a close rates a customer's outcomes: link the customer's traced costs that
still wait for their signal.

Ingestion links them in whichever order spans and signals arrive; this repairs the
pairs that arrived at the same moment in concurrent transactions (neither saw the
other), and links costs known only by workflow: to the signal that completed the
workflow, the latest of its signals whose event is an outcome of that signal's agent."""

from django.db.models import Exists, OuterRef

from agents.models import Cost, Signal
from agents.traces import costs_link, link_to_first
from billing.models import OutcomeDefinition


def costs_attribute(*, customer_id: int) -> int:
    """Link the customer's waiting traced costs; returns how many were linked."""
    waiting = Cost.objects.filter(
        customer_id=customer_id, signal__isnull=True, span_id__isnull=False
    )
    linked = costs_link(waiting)
    completing = (
        Signal.objects.filter(customer_id=customer_id, workflow_id=OuterRef("workflow_id"))
        .filter(
            Exists(
                OutcomeDefinition.objects.filter(
                    agent_id=OuterRef("agent_id"), event_name=OuterRef("event_name")
                )
            )
        )
        .order_by("-occurred_at", "-pk")
    )
    return linked + link_to_first(
        waiting.filter(signal__isnull=True, workflow_id__isnull=False), completing
    )
