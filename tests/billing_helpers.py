"""A small world for closing tests: one customer, one agent, one outcome, one agreement
starting 2026-01-01 (monthly), signals placed in January."""

from datetime import UTC, date, datetime
from decimal import Decimal

from billing.models import BillingPeriod, PriceTier
from billing.periods import periods_create
from tests import factories as f

JAN = datetime(2026, 1, 10, 12, tzinfo=UTC)
AFTER_JAN = datetime(2026, 2, 5, tzinfo=UTC)


class World:
    def __init__(
        self,
        *,
        model="per_outcome",
        currency="USD",
        partial_rule="none",
        per_workflow=False,
        tiers=(),
        agreement_kwargs=None,
        **price_kwargs,
    ):
        self.customer = f.CustomerFactory(currency=currency)
        self.agent = f.AgentFactory()
        fraction = Decimal("0.4") if partial_rule == "fixed" else None
        self.outcome = f.OutcomeDefinitionFactory(
            agent=self.agent,
            event_name="done",
            partial_rule=partial_rule,
            partial_fraction=fraction,
            per_workflow=per_workflow,
            ratio_numerator_field="done" if partial_rule == "ratio" else "",
            ratio_denominator_field="total" if partial_rule == "ratio" else "",
        )
        f.OutcomeCriterionFactory(definition=self.outcome, field_path="status", value="ok")
        f.OutcomeCriterionFactory(
            definition=self.outcome, kind="partial", field_path="status", value="partial"
        )
        self.agreement = f.PriceAgreementFactory(
            customer=self.customer,
            currency=currency,
            starts_on=date(2026, 1, 1),
            **(agreement_kwargs or {}),
        )
        if model in ("graduated", "volume"):
            price_kwargs.setdefault("unit_price", None)
        self.price = f.PriceFactory(
            agreement=self.agreement, outcome_definition=self.outcome, model=model, **price_kwargs
        )
        for lo, hi, unit in tiers:
            PriceTier.objects.create(
                price=self.price, from_quantity=lo, up_to_quantity=hi, unit_price=unit
            )
        periods_create(agreement=self.agreement, until=AFTER_JAN)

    def signal(self, status="ok", at=JAN, **data):
        return f.SignalFactory(
            agent=self.agent,
            customer=self.customer,
            event_name="done",
            occurred_at=at,
            data={"status": status, **data},
            workflow_id=data.pop("workflow", None) if "workflow" in data else None,
        )

    def signals(self, n, status="ok", **data):
        return [self.signal(status, **data) for _ in range(n)]

    def period(self, month=1):
        return BillingPeriod.objects.get(
            agreement=self.agreement, starts_at__month=month, starts_at__year=2026
        )
