"""Demo data a person can explore: agents, customers, agreements in every pricing model,
and signals since the month before last. Idempotent: a second run changes nothing."""

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from agents.models import Agent, Signal
from agents.services import SignalInput, signals_ingest
from billing.management.demo_billing import demo_billing_details
from billing.management.demo_credits import demo_credits
from billing.management.demo_traces import demo_scope, demo_spans_store
from billing.models import (
    ExchangeRate,
    OutcomeCriterion,
    OutcomeDefinition,
    Price,
    PriceAgreement,
    PriceTier,
)
from customers.models import Customer

D = Decimal

AGENTS = {
    "doc-extractor": {
        "name": "Document extractor",
        "description": "Extracts fields from invoices and contracts; billed per document.",
        "outcome": {
            "name": "Document processed",
            "event_name": "document_processed",
            "partial_rule": "ratio",
            "ratio_numerator_field": "pages_extracted",
            "ratio_denominator_field": "pages_total",
            "criteria": [
                ("success", "status", "eq", "extracted"),
                ("partial", "status", "eq", "partially_extracted"),
            ],
        },
    },
    "support-resolver": {
        "name": "Support resolver",
        "description": "Resolves support tickets; an escalation with a draft reply is a partial.",
        "outcome": {
            "name": "Ticket resolved",
            "event_name": "ticket_resolved",
            "partial_rule": "fixed",
            "partial_fraction": D("0.4"),
            "criteria": [
                ("success", "resolution", "eq", "resolved"),
                ("partial", "resolution", "eq", "escalated_with_draft"),
            ],
        },
    },
    "collections-agent": {
        "name": "Collections agent",
        "description": "Chases overdue invoices over several steps; billed as a percent of "
        "recovered value, once per workflow.",
        "outcome": {
            "name": "Payment recovered",
            "event_name": "collection_completed",
            "per_workflow": True,
            "criteria": [("success", "recovered_amount", "gt", 0)],
        },
    },
    "lead-qualifier": {
        "name": "Lead qualifier",
        "description": "Researches and scores inbound leads; billed at cost plus a markup.",
        "outcome": {
            "name": "Lead qualified",
            "event_name": "lead_qualified",
            "partial_rule": "fixed",
            "partial_fraction": D("0.25"),
            "criteria": [
                ("success", "score", "gte", 70),
                ("partial", "score", "gte", 40),
            ],
        },
    },
}

# (external id, name, currency, cadence, fees, prices by agent)
CUSTOMERS = [
    (
        "cus_01",
        "Acme Logistics",
        "USD",
        "monthly",
        {"platform_fee": D("500")},
        {
            "doc-extractor": {
                "model": "per_outcome",
                "unit_price": D("0.50"),
                "included_quantity": D("100"),
            },
            "support-resolver": {"model": "per_outcome", "unit_price": D("2.00")},
        },
    ),
    (
        "cus_02",
        "Globex",
        "USD",
        "monthly",
        {},
        {
            "doc-extractor": {
                "model": "graduated",
                "tiers": [(0, 1000, D("0.60")), (1000, 5000, D("0.45")), (5000, None, D("0.30"))],
            }
        },
    ),
    (
        "cus_03",
        "Initech",
        "EUR",
        "monthly",
        {"minimum_commitment": D("2000")},
        {
            "support-resolver": {
                "model": "volume",
                "tiers": [(0, 500, D("2.50")), (500, 2000, D("2.20")), (2000, None, D("2.00"))],
            }
        },
    ),
    (
        "cus_04",
        "Umbrella Finance",
        "USD",
        "monthly",
        {"spend_cap": D("20000")},
        {
            "collections-agent": {
                "model": "percent_of_value",
                "percent_of_value": D("8"),
                "value_field": "recovered_amount",
            }
        },
    ),
    (
        "cus_05",
        "Stark Ventures",
        "USD",
        "monthly",
        {"platform_fee": D("250")},
        {
            "lead-qualifier": {"model": "cost_plus", "markup_percent": D("30")},
            "doc-extractor": {"model": "per_outcome", "unit_price": D("0.45")},
        },
    ),
    (
        "cus_06",
        "Wayne Retail",
        "GBP",
        "monthly",
        {},
        {
            "support-resolver": {"model": "per_outcome", "unit_price": D("1.80")},
            "lead-qualifier": {
                "model": "volume",
                "tiers": [(0, 200, D("4.00")), (200, None, D("3.50"))],
            },
        },
    ),
    (
        "cus_07",
        "Tyrell Trading",
        "JPY",
        "monthly",
        {"platform_fee": D("30000")},
        {"doc-extractor": {"model": "per_outcome", "unit_price": D("60")}},
    ),
    (
        "cus_08",
        "Cyberdyne Support",
        "USD",
        "quarterly",
        {},
        {
            "support-resolver": {
                "model": "graduated",
                "tiers": [(0, 1000, D("2.40")), (1000, None, D("1.90"))],
            }
        },
    ),
    (
        "cus_09",
        "Soylent Credit",
        "USD",
        "monthly",
        {"minimum_commitment": D("1000")},
        {
            "collections-agent": {
                "model": "percent_of_value",
                "percent_of_value": D("6"),
                "value_field": "recovered_amount",
            }
        },
    ),
    (
        "cus_10",
        "Hooli Europe",
        "EUR",
        "monthly",
        {"platform_fee": D("300")},
        {
            "doc-extractor": {"model": "cost_plus", "markup_percent": D("50")},
            "lead-qualifier": {"model": "per_outcome", "unit_price": D("3.00")},
        },
    ),
]
UNATTRIBUTED_ID = "cus_new_prospect"
FX = [
    ("EUR", "USD", D("1.08")),
    ("GBP", "USD", D("1.27")),
    ("JPY", "USD", D("0.0067")),
    ("USD", "EUR", D("0.926")),
    ("USD", "GBP", D("0.787")),
    ("USD", "JPY", D("149.2")),
]
DEMO_USERS = [
    ("admin", "admin", None, True),
    ("manager", "manager", "Account managers", False),
    ("finance", "finance", "Finance", False),
    ("viewer", "viewer", "Viewers", False),
]
SIGNAL_COUNT = 50_000


def demo_start(today: date) -> date:
    """The month before last: its agreements start then, so that last month is a closed
    period full of signals, and the signals spread from then to now (every month the
    demo bills has some, whatever the day of the month)."""
    return (today.replace(day=1) - timedelta(days=45)).replace(day=1)


class Command(BaseCommand):
    help = (
        "Create demo agents, customers, agreements and signals since the month before last "
        "(idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--signals", type=int, default=SIGNAL_COUNT)

    def handle(self, *args, signals: int, **options):
        if signals < 0:
            self.stderr.write("--signals must be 0 or more.")
            return
        today = timezone.now().date()
        with transaction.atomic():
            agents, outcomes = self._agents()
            customers = self._customers(agents, outcomes, today)
            demo_billing_details()
            demo_credits(start=demo_start(today), today=today)
            for base, quote, rate in FX:
                ExchangeRate.objects.get_or_create(
                    base_currency=base,
                    quote_currency=quote,
                    effective_on=today.replace(day=1) - timedelta(days=120),
                    defaults={"rate": rate},
                )
        if Signal.objects.filter(idempotency_key__startswith="demo-").exists():
            self.stdout.write("Demo signals already present: nothing to add.")
        else:
            start = demo_start(today)
            stored = self._signals(agents, customers, signals, start)
            self.stdout.write(f"Stored {stored} demo signals since {start:%Y-%m-%d}.")
        self._users()

    def _agents(self):
        agents, outcomes = {}, {}
        for external_id, spec in AGENTS.items():
            agent, _ = Agent.objects.get_or_create(
                external_id=external_id,
                defaults={"name": spec["name"], "description": spec["description"]},
            )
            o = dict(spec["outcome"])
            criteria = o.pop("criteria")
            outcome, created = OutcomeDefinition.objects.get_or_create(
                agent=agent, name=o.pop("name"), defaults=o
            )
            if created:
                for kind, path, op, value in criteria:
                    OutcomeCriterion.objects.create(
                        definition=outcome, kind=kind, field_path=path, operator=op, value=value
                    )
            agents[external_id], outcomes[external_id] = agent, outcome
        return agents, outcomes

    def _customers(self, agents, outcomes, today: date):
        start = demo_start(today)
        customers = {}
        for external_id, name, currency, cadence, fees, prices in CUSTOMERS:
            customer, _ = Customer.objects.get_or_create(
                external_id=external_id,
                defaults={
                    "name": name,
                    "currency": currency,
                    "billing_email": f"billing@{name.split()[0].lower()}.example",
                },
            )
            agreement, created = PriceAgreement.objects.get_or_create(
                customer=customer,
                name=f"{name} outcome agreement",
                defaults={
                    "currency": currency,
                    "starts_on": start,
                    "cadence": cadence,
                    "margin_target": D("40"),
                    **fees,
                },
            )
            if created:
                for agent_id, spec in prices.items():
                    spec = dict(spec)
                    tiers = spec.pop("tiers", [])
                    price = Price.objects.create(
                        agreement=agreement, outcome_definition=outcomes[agent_id], **spec
                    )
                    for lo, hi, unit in tiers:
                        PriceTier.objects.create(
                            price=price, from_quantity=lo, up_to_quantity=hi, unit_price=unit
                        )
            customers[external_id] = (customer, list(prices))
        return customers

    def _signals(self, agents, customers, count: int, start: date) -> int:
        rng = random.Random(42)
        now = timezone.now()
        span = (now - datetime.combine(start, time.min, tzinfo=UTC)).total_seconds() - 60
        pairs = [
            (ext, agent_id) for ext, (_, agent_ids) in customers.items() for agent_id in agent_ids
        ]
        batch: list[SignalInput] = []
        stored = 0
        workflow = 0
        scopes = []  # the support agent's LLM calls come as traced spans
        for i in range(count):
            if i % 100 == 99:
                customer_ext, agent_id = UNATTRIBUTED_ID, "support-resolver"
            else:
                customer_ext, agent_id = pairs[rng.randrange(len(pairs))]
            occurred = now - timedelta(seconds=rng.uniform(60, span))
            event, data, workflow_id = self._event(rng, agent_id)
            if agent_id == "support-resolver" and customer_ext != UNATTRIBUTED_ID:
                del data["llm_cost"]
                data["paid"] = {"paid_scope_id": demo_scope(rng)}
                scopes.append((customer_ext, data["paid"]["paid_scope_id"], occurred))
            if agent_id == "collections-agent":
                workflow = i
                workflow_id = f"wf-demo-{workflow}"
            batch.append(
                SignalInput(
                    agent=agents[agent_id],
                    event_name=event,
                    external_customer_id=customer_ext,
                    occurred_at=occurred,
                    idempotency_key=f"demo-{i}",
                    workflow_id=workflow_id,
                    data=data,
                )
            )
            if agent_id == "collections-agent":
                # The steps before completion, under the same workflow, with their own costs.
                for step in range(rng.randint(1, 3)):
                    batch.append(
                        SignalInput(
                            agent=agents[agent_id],
                            event_name="contact_attempted",
                            external_customer_id=customer_ext,
                            occurred_at=occurred - timedelta(hours=step + 1),
                            idempotency_key=f"demo-{i}-step-{step}",
                            workflow_id=workflow_id,
                            data={
                                "channel": rng.choice(["email", "sms", "call"]),
                                "llm_tokens": 1800,
                                "llm_cost": round(rng.uniform(0.002, 0.01), 6),
                            },
                        )
                    )
            if len(batch) >= 1000:
                stored += len(signals_ingest(items=batch).stored)
                batch = []
        if batch:
            stored += len(signals_ingest(items=batch).stored)
        demo_spans_store(rng, agents["support-resolver"], scopes)
        return stored

    @staticmethod
    def _event(rng: random.Random, agent_id: str):
        tokens = rng.randint(2_000, 30_000)
        data = {
            "llm_tokens": tokens,
            "llm_cost": round(tokens * rng.uniform(2.5e-6, 4e-6), 6),
            "infrastructure_cost": round(rng.uniform(0.005, 0.03), 6),
            "processing_time": round(rng.uniform(2, 90), 1),
            "model": rng.choice(["gpt-4o", "claude-sonnet-4", "gpt-4o-mini"]),
        }
        roll = rng.random()
        if agent_id == "doc-extractor":
            pages = rng.randint(1, 20)
            if roll < 0.82:
                data |= {"status": "extracted", "pages_total": pages, "pages_extracted": pages}
            elif roll < 0.92:
                data |= {
                    "status": "partially_extracted",
                    "pages_total": pages,
                    "pages_extracted": rng.randint(0, pages),
                }
            else:
                data |= {"status": "failed", "pages_total": pages, "pages_extracted": 0}
            return "document_processed", data, None
        if agent_id == "support-resolver":
            resolution = (
                "resolved" if roll < 0.75 else "escalated_with_draft" if roll < 0.9 else "abandoned"
            )
            data |= {"resolution": resolution, "ticket_id": f"T-{rng.randint(1000, 99999)}"}
            return "ticket_resolved", data, None
        if agent_id == "collections-agent":
            recovered = round(rng.uniform(50, 2500), 2) if roll < 0.6 else 0
            data |= {"recovered_amount": recovered, "invoice_ref": f"INV-{rng.randint(1, 99999)}"}
            return "collection_completed", data, None
        score = rng.randint(0, 100)
        data |= {"score": score, "company": f"Lead {rng.randint(1, 9999)}"}
        return "lead_qualified", data, None

    def _users(self):
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: no demo users created. Use createsuperuser.")
            return
        for username, password, group, superuser in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": True, "is_superuser": superuser}
            )
            if created:
                user.set_password(password)
                user.save()
                if group:
                    user.groups.add(Group.objects.get(name=group))
        self.stdout.write(
            "Admin: http://127.0.0.1:8000/admin/  (demo logins, DEBUG only: "
            + ", ".join(f"{u}/{p}" for u, p, _, _ in DEMO_USERS)
            + ")"
        )
