"""Paid's v2 credit balances: GET /api/v2/customers/{id}/credits/balances and
/api/v2/customers/external/{externalId}/credits/balances, as Paid's SDK reads them
(`customers.get_customer_credit_balances[_by_external_id]`).

The same balance as /api/v1/customers/{external_id}/balance (billing/balances.py), in
Paid's shape `{"data": [CreditBalance]}`: one pool per credit unit, the money credits in
the customer's currency (`creditsCurrencyId` the ISO code) and one per outcome definition
with outcome grants (`outcomes-<definition id>`). A pool's `total` is what its grants
granted, `used` what issued invoices drew (net of reversals) plus what the open periods
would draw now, `available` the rest (the sum of its grants'). Grants: `periodStart` is
when a grant takes effect, `periodEnd` and `expiresAt` when it expires (null: never);
there is no rollover here. Amounts are exact JSON numbers (money at its minor unit).
Besides `data`, the body says `allowed`, `asOf`, `ageSeconds` and `lagBoundSeconds`
(extra keys, which the SDK keeps). Keys and visibility as v1: an agent's key sees only
the customers its agent bills, and any other answers the same 404 as an unknown one."""

from decimal import Decimal

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response

from agents.api.field_checks import text_problem
from agents.api.paid_v2 import EXTERNAL_ID, ID, MAX_ID_DIGITS, CatalogueView
from billing.api.balances import key_agent, no_parameters, not_found
from billing.balances import age_seconds, balance_allowed, balance_current, lag_bound
from billing.models import CreditGrant, CustomerBalance
from billing.money import json_number
from billing.selectors import balance_lookup
from customers.currencies import CURRENCY_CHOICES

CURRENCY_NAMES = {code: label.split(" — ", 1)[1] for code, label in CURRENCY_CHOICES}


def _grant(row: dict) -> dict:
    available = Decimal(row["available"])
    total = Decimal(row["amount"])
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "available": json_number(available),
        "used": json_number(total - available),
        "total": json_number(total),
        "rolloverAmount": None,
        "periodStart": row["effective_at"],
        "periodEnd": row["expires_at"],
        "rolloverEndDate": None,
        "expiresAt": row["expires_at"],
        "isInRolloverWindow": False,
    }


def credit_balances(balance: CustomerBalance) -> list[dict]:
    """The balance's grants as Paid's CreditBalance pools: money first, then outcomes."""
    pools: dict[str, dict] = {}
    for row in balance.grants:
        if row["unit"] == CreditGrant.Unit.MONEY:
            key, name = balance.currency, CURRENCY_NAMES.get(balance.currency, balance.currency)
            pool_id = balance.currency
        else:
            key = f"outcomes-{row['outcome_definition_id']}"
            name, pool_id = f"{row['outcome']} (outcomes)", key
        pool = pools.setdefault(
            pool_id,
            {"creditsCurrencyId": pool_id, "currencyName": name, "currencyKey": key, "rows": []},
        )
        pool["rows"].append(row)
    result = []
    money_first = sorted(pools.values(), key=lambda p: p["creditsCurrencyId"] != balance.currency)
    for pool in money_first:
        rows = pool.pop("rows")
        grants = [_grant(row) for row in rows]
        available = sum((Decimal(r["available"]) for r in rows), Decimal(0))
        total = sum((Decimal(r["amount"]) for r in rows), Decimal(0))
        expiries = [r["expires_at"] for r in rows]
        result.append(
            {
                **pool,
                "available": json_number(available),
                "used": json_number(total - available),
                "total": json_number(total),
                "periodStart": min(r["effective_at"] for r in rows),
                "periodEnd": None if None in expiries else max(expiries),
                "rolloverEndDate": None,
                "recipient": "organization",
                "grants": grants,
            }
        )
    return result


# --- OpenAPI -------------------------------------------------------------------------
NUMBER = "An exact JSON number (money at its currency's minor unit, or outcomes)."


def amount(**kwargs) -> serializers.DecimalField:
    """A Decimal amount written as a JSON number (billing.money.json_number)."""
    return serializers.DecimalField(
        max_digits=None, decimal_places=None, coerce_to_string=False, **kwargs
    )


class PaidCreditGrantOut(serializers.Serializer):
    id = serializers.CharField(help_text="Our grant's id.")
    name = serializers.CharField()
    available = amount(help_text=f"total - used. {NUMBER}")
    used = amount(
        help_text=f"Drawn by issued invoices (net of reversals) and by the open periods "
        f"now. {NUMBER}"
    )
    total = amount(help_text=f"Granted. {NUMBER}")
    rolloverAmount = amount(allow_null=True, help_text="Always null.")
    periodStart = serializers.DateTimeField(help_text="When the grant takes effect.")
    periodEnd = serializers.DateTimeField(allow_null=True, help_text="Its expiry (null: never).")
    rolloverEndDate = serializers.DateTimeField(allow_null=True, help_text="Always null.")
    expiresAt = serializers.DateTimeField(allow_null=True)
    isInRolloverWindow = serializers.BooleanField(help_text="Always false.")


class PaidCreditBalanceOut(serializers.Serializer):
    creditsCurrencyId = serializers.CharField(
        help_text="The pool: the currency's ISO code, or outcomes-<outcome definition id>."
    )
    currencyName = serializers.CharField()
    currencyKey = serializers.CharField()
    available = amount(help_text=f"The sum of its grants'. {NUMBER}")
    used = amount()
    total = amount()
    periodStart = serializers.DateTimeField(allow_null=True)
    periodEnd = serializers.DateTimeField(allow_null=True)
    rolloverEndDate = serializers.DateTimeField(allow_null=True)
    recipient = serializers.ChoiceField(["organization"])
    grants = PaidCreditGrantOut(many=True)


class PaidCreditBalancesOut(serializers.Serializer):
    data = PaidCreditBalanceOut(many=True)
    allowed = serializers.BooleanField(
        help_text="False only under a hard budget (see /api/v1/customers/{external_id}/balance)."
    )
    asOf = serializers.DateTimeField(
        help_text="When these figures were last known exact: computed, or "
        "found with none of their inputs changed since."
    )
    ageSeconds = amount(help_text="How old they are, to the millisecond.")
    lagBoundSeconds = serializers.IntegerField(help_text="They are never older than this.")


# --- Views ---------------------------------------------------------------------------
class CreditBalancesView(CatalogueView):
    """A customer's credit balances; any valid key, an agent's for its customers only."""

    def get(self, request, **kwargs):
        no_parameters(request)
        agent = key_agent(request)
        agent_id = agent and agent.pk
        found = None
        if "external_id" in kwargs:
            value, label = kwargs["external_id"], "external id"
            if not text_problem(value) and len(value) <= 200:
                found = balance_lookup(agent_id=agent_id, external_id=value)
        else:
            value, label = kwargs["id"], "id"
            if value.isascii() and value.isdigit() and len(value) <= MAX_ID_DIGITS:
                found = balance_lookup(agent_id=agent_id, pk=int(value))
        if found is None:
            raise not_found(label, value, agent)
        now = timezone.now()
        balance = balance_current(found.customer, stored=found.stored, now=now)
        return Response(
            {
                "data": credit_balances(balance),
                "allowed": balance_allowed(balance, found.budget),
                "asOf": balance.checked_at.isoformat(),
                "ageSeconds": age_seconds(balance, now),
                "lagBoundSeconds": lag_bound(),
            }
        )


def _variant(name: str, operation_id: str, parameter) -> type:
    view = type(name, (CreditBalancesView,), {"__doc__": CreditBalancesView.__doc__})
    schema = extend_schema(
        operation_id=operation_id,
        summary="Paid-compatible: a customer's credit balances",
        parameters=[parameter],
        responses={200: PaidCreditBalancesOut},
        description="Paid's CreditBalance list, live: see docs/balance.md.",
    )
    return extend_schema_view(get=schema)(view)


CreditBalancesById = _variant("CreditBalancesById", "getCustomerCreditBalances", ID)
CreditBalancesByExternalId = _variant(
    "CreditBalancesByExternalId", "getCustomerCreditBalancesByExternalId", EXTERNAL_ID
)
