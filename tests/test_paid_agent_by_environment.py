"""How the issue is checked: an agent instrumented with Paid's SDK, in its own process,
pointed at the server by environment variables alone (PAID_API_KEY,
PAID_OTEL_COLLECTOR_ENDPOINT; OPENAI_BASE_URL for the stub vendor), makes an LLM call
and reports its outcome; the outcome's margin then holds that call's catalogue price."""

import os
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from agents.models import Cost, Signal
from billing.models import BillingPeriod, MarginFigure
from billing.periods import periods_create
from billing.services import period_close
from tests import factories as f
from tests.api_helpers import agent_key
from tests.test_paid_sdk_tracing import expected_amount, openai_stub  # noqa: F401

AGENT = textwrap.dedent(
    """
    import os
    import openai
    from paid.tracing import (
        cost_attributed_signal, initialize_tracing, paid_autoinstrument, paid_tracing,
    )

    initialize_tracing()
    paid_autoinstrument(["openai"])

    @paid_tracing("cus_env", external_product_id="support-bot")
    def resolve_ticket():
        openai.OpenAI(max_retries=0).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Fix my printer"}]
        )
        cost_attributed_signal(
            "ticket_resolved",
            data={"status": "ok"},
            base_url_override=os.environ["SIGNALS_BASE_URL"],
        )

    resolve_ticket()
    # No flush: the SDK flushes its spans when the process exits, as in production.
    """
)


def test_an_agent_configured_by_environment_gets_its_margin_to_the_cent(
    live_server,
    transactional_db,
    openai_stub,  # noqa: F811
):
    customer = f.CustomerFactory(external_id="cus_env")
    agent = f.AgentFactory(external_id="support-bot")
    outcome = f.OutcomeDefinitionFactory(agent=agent, event_name="ticket_resolved")
    f.OutcomeCriterionFactory(definition=outcome, field_path="status", value="ok")
    today = timezone.now().date()
    agreement = f.PriceAgreementFactory(
        customer=customer, currency="USD", starts_on=date(today.year, today.month, 1)
    )
    f.PriceFactory(
        agreement=agreement,
        outcome_definition=outcome,
        model="per_outcome",
        unit_price=Decimal("1.50"),
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PAID_", "OTEL_", "OPENAI_"))},
        "PAID_API_KEY": agent_key(agent),
        "PAID_OTEL_COLLECTOR_ENDPOINT": f"{live_server.url}/v1/traces",
        "OPENAI_BASE_URL": f"{openai_stub.url}/v1",
        "OPENAI_API_KEY": "sk-stub",
        "SIGNALS_BASE_URL": f"{live_server.url}/api/v2",
    }
    done = subprocess.run(
        [sys.executable, "-c", AGENT], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr

    signal = Signal.objects.get()
    cost = Cost.objects.get()
    assert cost.signal == signal and cost.customer == customer
    assert cost.amount == expected_amount() == Decimal("0.0045")

    periods_create(agreement=agreement, until=timezone.now() + timedelta(days=1))
    period = BillingPeriod.objects.get(
        agreement=agreement, starts_at__lte=signal.occurred_at, ends_at__gt=signal.occurred_at
    )
    period_close(period_id=period.pk)
    figure = MarginFigure.objects.get(period=period)
    assert (figure.successes, figure.revenue, figure.cost) == (1, Decimal("1.50"), cost.amount)
    assert figure.margin == Decimal("1.4955")
    assert figure.cost_by_model == {"gpt-4o-2024-08-06": "0.00450000"}
