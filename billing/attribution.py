"""Before a close rates a customer's outcomes: link the customer's traced costs that
still wait for their signal.

Ingestion links costs by Paid's scope in whichever order spans and signals arrive. A
close repairs the pairs that arrived at the same moment in concurrent transactions
(neither saw the other), then links what only a trace id or a workflow ties to an
outcome: to the signal that completed it, the latest of the trace's (same agent and
customer) or the workflow's (same customer) signals whose event is an outcome of its
agent. Costs that reach a signal an earlier invoice billed refresh that invoice's
margins (a task after the commit)."""

from datetime import timedelta

from django.db.models import Exists, OuterRef

from agents.models import Cost, Signal
from agents.traces import costs_link, link_to_first
from billing.models import OutcomeDefinition

# A waiting cost is looked at by the closes of periods that start at most this long
# after it: costs that never find their signal are not scanned forever.
LOOKBACK = timedelta(days=62)


def costs_attribute(*, customer_id: int, period) -> set[int]:
    """Link the customer's waiting traced costs of the period (and LOOKBACK before it);
    returns the ids of the signals that got costs."""
    waiting = Cost.objects.filter(
        customer_id=customer_id,
        signal__isnull=True,
        span_id__isnull=False,
        occurred_at__gte=period.starts_at - LOOKBACK,
    )
    pks = list(waiting.values_list("pk", flat=True))
    if not pks:
        return set()
    waiting = Cost.objects.filter(pk__in=pks)
    costs_link(waiting)
    outcomes = Signal.objects.filter(customer_id=customer_id).filter(
        Exists(
            OutcomeDefinition.objects.filter(
                agent_id=OuterRef("agent_id"), event_name=OuterRef("event_name")
            )
        )
    )
    by_trace = outcomes.filter(
        trace_id=OuterRef("trace_id"), agent_id=OuterRef("agent_id")
    ).order_by("-occurred_at", "-pk")
    link_to_first(waiting.filter(signal__isnull=True, trace_id__isnull=False), by_trace)
    by_workflow = outcomes.filter(workflow_id=OuterRef("workflow_id")).order_by(
        "-occurred_at", "-pk"
    )
    link_to_first(waiting.filter(signal__isnull=True, workflow_id__isnull=False), by_workflow)
    return set(
        Cost.objects.filter(pk__in=pks, signal__isnull=False).values_list("signal_id", flat=True)
    )
