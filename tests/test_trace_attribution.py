"""Traced costs land on the outcome they produced: by Paid's scope id, by trace id, by
workflow; in whichever order spans and signals arrive; and margins count them, with
calls on models the catalogue does not know counted as unpriced, never as zero."""

from datetime import timedelta
from decimal import Decimal as D
from unittest import mock

import pytest
from genai_prices import Usage, calc_price

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


def test_by_trace_id_the_close_links_the_outcome_that_completed_the_trace(client, world):
    trace = new_trace_id()
    opened = signal(client, world, {"trace_id": trace})
    Signal.objects.filter(pk=opened.pk).update(event_name="ticket_opened")  # not an outcome
    traces(client, world, span(llm(), trace_id=trace))
    done = signal(client, world, {"trace_id": trace.upper()})
    assert Cost.objects.get().signal is None  # a trace is linked where outcomes are known
    assert margin(world).cost == GPT4O_CALL
    assert Cost.objects.get().signal == done


def test_a_trace_id_does_not_link_another_agent_s_or_customer_s_costs(client, world):
    trace = new_trace_id()
    other_agent = f.AgentFactory(external_id="other-bot")
    f.OutcomeDefinitionFactory(agent=other_agent, event_name="done")
    post_traces(client, export(span(llm(agent="other-bot"), trace_id=trace)), agent_key())
    f.CustomerFactory(external_id="cus_other")
    traces(client, world, span(llm(customer="cus_other"), trace_id=trace))
    signal(client, world, {"trace_id": trace})
    assert margin(world).cost == 0
    assert not Cost.objects.filter(signal__isnull=False).exists()


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
    # Not a zero in the breakdowns either: the unpriced model is not listed there.
    assert figure.cost_by_model == {"gpt-4o-2024-08-06": "0.00450000"}
    assert figure.cost_by_category == {"llm": "0.00450000"}


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


def test_cached_tokens_reported_apart_from_input_are_added_to_it(client, world):
    # Anthropic reports input tokens without the cached ones: more cached than input.
    traces(
        client, world, span(llm(prompt=10, **{"llm.token_count.prompt_details.cache_read": 500}))
    )
    cost = Cost.objects.get()
    expected = calc_price(
        Usage(input_tokens=510, cache_read_tokens=500, output_tokens=200),
        model_ref="gpt-4o-2024-08-06",
        provider_id="openai",
    ).total_price
    assert cost.amount == D(str(expected)).quantize(D("0.00000001"))
    assert (cost.input_tokens, cost.cache_read_tokens) == (10, 500)


def test_span_ids_are_known_within_their_trace(client, world):
    same = "00000000000000aa"
    first = span(llm(paid_scope_id=1), span_id=same)
    second = span(llm(customer="cus_42", model="gpt-4o-mini", prompt=5, completion=5), span_id=same)
    traces(client, world, first, second)
    assert sorted(Cost.objects.values_list("model", "input_tokens")) == [
        ("gpt-4o-2024-08-06", 1000),
        ("gpt-4o-mini", 5),
    ]


def test_a_parent_span_of_another_agent_lends_nothing(client, world):
    trace, parent_id = new_trace_id(), "cd" * 8
    child = llm()
    del child["external_customer_id"]
    traces(client, world, span(child, trace_id=trace, parent=parent_id))
    f.AgentFactory(external_id="other-bot")
    intruder = span(
        {"external_customer_id": "cus_42", "paid_scope_id": 5, "external_agent_id": "other-bot"},
        trace_id=trace,
        span_id=parent_id,
    )
    assert post_traces(client, export(intruder), agent_key()).status_code == 200
    cost = Cost.objects.get()
    assert (cost.external_customer_id, cost.scope_id) == ("", None)


def test_a_scope_links_only_to_a_signal_within_a_day_of_the_call(client, world):
    old = signal(client, world, {"paid": {"paid_scope_id": 77}})
    Signal.objects.filter(pk=old.pk).update(occurred_at=JAN - timedelta(days=3))
    traces(client, world, span(llm(paid_scope_id=77)))
    assert Cost.objects.get().signal is None
    recent = signal(client, world, {"paid": {"paid_scope_id": 77}})
    assert Cost.objects.get().signal == recent
