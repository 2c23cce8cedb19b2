"""Traced costs land on the outcome they produced: by Paid's scope id, by trace id, by
workflow; in whichever order spans and signals arrive; and margins count them, with
calls on models the catalogue does not know counted as unpriced, never as zero."""

from decimal import Decimal as D
from unittest import mock

import pytest

from agents.models import Cost, Signal
from billing.models import Invoice, MarginFigure
from billing.services import period_close
from billing.tasks import refresh_margins_task
from tests import factories as f
from tests.api_helpers import agent_key, post
from tests.billing_helpers import World
from tests.otlp_helpers import JAN, export, llm, new_trace_id, post_traces, span

pytestmark = pytest.mark.django_db

GPT4O_CALL = D("0.0045")  # 1,000 x 2.50/M + 200 x 10.00/M, the catalogue's gpt-4o price


@pytest.fixture
def world():
    w = World(unit_price=D("2.00"))
    w.customer.external_id = "cus_42"
    w.customer.save()
    w.key = agent_key(w.agent)
    return w


def signal(client, w, data, **fields):
    body = {
        "event_name": "done",
        "customer_id": "cus_42",
        "occurred_at": JAN.isoformat(),
        "data": {"status": "ok", **data},
        **fields,
    }
    response = post(client, "/api/v1/signals", body, w.key)
    assert response.status_code == 201, response.content
    return Signal.objects.latest("pk")


def traces(client, w, *spans):
    response = post_traces(client, export(*spans), w.key)
    assert response.status_code == 200, response.content
    assert response.json() == {}  # no partial success: every span taken
    return response


def margin(w) -> MarginFigure:
    period_close(period_id=w.period().pk)
    return MarginFigure.objects.get(period=w.period())


def test_spans_first_then_the_paid_signal_with_their_scope(client, world):
    traces(client, world, span(llm(paid_scope_id=1163060301)), span(llm(paid_scope_id=1163060301)))
    assert Cost.objects.filter(signal__isnull=True).count() == 2
    outcome = signal(client, world, {"paid": {"paid_scope_id": 1163060301}})
    assert Cost.objects.filter(signal=outcome).count() == 2
    figure = margin(world)
    assert figure.cost == 2 * GPT4O_CALL
    assert figure.revenue == D("2.00") and figure.margin == D("2.00") - 2 * GPT4O_CALL
    assert figure.cost_by_model == {"gpt-4o-2024-08-06": "0.00900000"}


def test_the_signal_first_then_its_spans(client, world):
    outcome = signal(client, world, {"paid": {"paid_scope_id": "77"}})
    traces(client, world, span(llm(paid_scope_id=77)))
    assert Cost.objects.get().signal == outcome
    assert margin(world).cost == GPT4O_CALL


def test_the_same_scope_id_of_another_customer_or_agent_is_not_theirs(client, world):
    f.CustomerFactory(external_id="cus_other")
    signal(client, world, {"paid": {"paid_scope_id": 5}})
    traces(client, world, span(llm(customer="cus_other", paid_scope_id=5)))
    assert Cost.objects.get().signal is None
    assert margin(world).cost == 0


def test_by_trace_id(client, world):
    trace = new_trace_id()
    traces(client, world, span(llm(), trace_id=trace))
    outcome = signal(client, world, {"trace_id": trace.upper()})
    assert Cost.objects.get().signal == outcome
    assert margin(world).cost == GPT4O_CALL


def test_spans_and_signal_that_missed_each_other_are_linked_when_the_period_closes(client, world):
    # As when both arrive at once in concurrent transactions: neither saw the other.
    traces(client, world, span(llm(paid_scope_id=9)))
    outcome = f.SignalFactory(
        agent=world.agent,
        customer=world.customer,
        external_customer_id="cus_42",
        event_name="done",
        occurred_at=JAN,
        data={"status": "ok", "paid": {"paid_scope_id": 9}},
        scope_id="9",
    )
    assert Cost.objects.get().signal is None
    assert margin(world).cost == GPT4O_CALL
    assert Cost.objects.get().signal == outcome


def test_a_workflow_s_spans_land_on_the_outcome_that_completed_it(client, world):
    f.OutcomeDefinitionFactory(agent=world.agent, event_name="other_outcome")
    step = signal(client, world, {}, workflow_id="wf-7")
    Signal.objects.filter(pk=step.pk).update(event_name="step_done")  # not an outcome
    steps = [span(llm(workflow_id="wf-7"), name=f"step {i}") for i in range(3)]
    traces(client, world, *steps)
    done = signal(client, world, {}, workflow_id="wf-7")
    assert not Cost.objects.filter(signal__isnull=False).exists()
    figure = margin(world)
    assert figure.cost == 3 * GPT4O_CALL and figure.successes == 1
    assert set(Cost.objects.values_list("signal", flat=True)) == {done.pk}


def test_an_unknown_model_is_counted_unpriced_never_zero(client, world):
    traces(
        client,
        world,
        span(llm(paid_scope_id=3)),
        span(llm(paid_scope_id=3, model="house-model-7")),
    )
    signal(client, world, {"paid": {"paid_scope_id": 3}})
    figure = margin(world)
    assert figure.cost == GPT4O_CALL
    assert figure.unpriced_costs == 1
    assert Cost.objects.get(model="house-model-7").amount is None


def test_a_span_with_its_own_cost_keeps_it(client, world):
    traces(client, world, span(llm(paid_scope_id=4, **{"llm.cost.total": 0.125})))
    signal(client, world, {"paid": {"paid_scope_id": 4}})
    cost = Cost.objects.get()
    assert cost.amount == D("0.125") and not cost.priced_from_catalogue
    assert margin(world).cost == D("0.125")


def test_genai_attributes_win_over_openinference_where_both_appear(client, world):
    both = llm(
        paid_scope_id=6,
        prompt=10,
        completion=10,
        **{
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 200,
        },
    )
    both["llm.model_name"] = "gpt-3.5-turbo"
    traces(client, world, span(both))
    cost = Cost.objects.get()
    assert (cost.model, cost.input_tokens, cost.output_tokens) == ("gpt-4o-2024-08-06", 1000, 200)
    assert cost.amount == GPT4O_CALL


def test_a_parent_span_exported_after_its_llm_child_lends_it_customer_and_scope(client, world):
    # The batch processor exports a child when it ends, often before its parent ends.
    trace, parent_id = new_trace_id(), "ab" * 8
    child = llm(customer=None)
    del child["external_customer_id"]
    traces(client, world, span(child, trace_id=trace, parent=parent_id))
    assert Cost.objects.get().external_customer_id == ""
    parent = span(
        {"external_customer_id": "cus_42", "paid_scope_id": 12, "input.value": "a prompt"},
        trace_id=trace,
        span_id=parent_id,
        name="paid.trace.parent_span",
    )
    traces(client, world, parent)
    cost = Cost.objects.get()
    assert (cost.customer, cost.scope_id) == (world.customer, "12")
    outcome = signal(client, world, {"paid": {"paid_scope_id": 12}})
    assert Cost.objects.get().signal == outcome
    assert margin(world).cost == GPT4O_CALL


def test_the_costs_api_shows_trace_fields_and_filters_unpriced_costs(client, world, admin_client):
    traces(client, world, span(llm(paid_scope_id=3)), span(llm(model="house-model-7")))
    outcome = signal(client, world, {"paid": {"paid_scope_id": 3}})
    unpriced = admin_client.get("/api/v1/costs", {"priced": "false"}).json()["results"]
    assert [(c["model"], c["amount"]) for c in unpriced] == [("house-model-7", None)]
    linked = admin_client.get("/api/v1/costs", {"signal": outcome.pk}).json()["results"]
    assert [(c["amount"], c["scope_id"], c["span_name"]) for c in linked] == [
        ("0.00450000", "3", "chat")
    ]
    assert len(linked[0]["trace_id"]) == 32 and len(linked[0]["span_id"]) == 16


def test_costs_reaching_an_outcome_after_its_close_refresh_the_invoice_margins(
    client, world, django_capture_on_commit_callbacks
):
    signal(client, world, {"paid": {"paid_scope_id": 21}})
    figure = margin(world)  # closed before the spans arrived
    assert figure.cost == 0 and figure.margin == D("2.00")
    invoice = Invoice.objects.get(period=world.period())
    with (
        mock.patch("billing.receivers.refresh_margins_task.delay") as queued,
        django_capture_on_commit_callbacks(execute=True),
    ):
        traces(client, world, span(llm(paid_scope_id=21)))
    queued.assert_called_once_with(invoice.pk)
    assert refresh_margins_task(invoice.pk) == 1
    figure.refresh_from_db()
    assert (figure.revenue, figure.cost) == (D("2.00"), GPT4O_CALL)
    assert figure.margin == D("2.00") - GPT4O_CALL
    assert figure.cost_by_model == {"gpt-4o-2024-08-06": "0.00450000"}
    assert refresh_margins_task(invoice.pk) == 0  # run twice: nothing more
    assert invoice.lines.get().amount == D("2.00")  # the invoice itself never changes
