"""GET /api/v1/customers/{external_id}/balance: may this customer's agents go on? Its
prepaid credits, what its open periods would draw from them now, its budget and
`allowed`, as of a stated time at most BALANCE_LAG_SECONDS old (billing/balances.py).

Who reads: staff with billing.view_customerbalance (Account managers, Finance, Viewers),
any customer; an organisation API key, any customer; an agent's API key, the customers
its agent bills (an agreement of theirs prices an outcome of the agent). Any other
customer, and one that does not exist, answer the same 404: a key learns nothing of
customers it does not bill.

Built for agents asking before each action: one indexed query (customer, stored
balance, budget and the key's right to it together: selectors.balance_lookup), the
cached key check, the body as a plain dict (OpenAPI from BalanceOut, which the tests
check the body against)."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.api.authentication import AgentKeyAuthentication, AgentKeyThrottle
from agents.api.field_checks import text_problem
from agents.api.paid_v2 import printable
from agents.api.staff_authentication import StaffTokenAuthentication
from agents.models import Agent, AgentAPIKey
from billing.balances import age_seconds, balance_allowed, balance_current, lag_bound
from billing.models import Budget, CustomerBalance
from billing.money import margin_percent, round_line
from billing.selectors import balance_lookup
from config.openapi import FIELD_ERRORS_OR_DETAIL, RETRY_LATER, detail
from config.renderers import DecimalJSONRenderer
from customers.models import Customer

PERMISSION = "billing.view_customerbalance"


# --- Who may read --------------------------------------------------------------------
class BalanceReaders(BasePermission):
    """An API key of an active agent, or the organisation's; or staff with the
    permission to view balances."""

    def has_permission(self, request, view):
        if isinstance(request.auth, AgentAPIKey):
            agent = request.auth.agent
            if agent is not None and not agent.active:
                raise exceptions.PermissionDenied(
                    f"Agent {agent.external_id!r} is deactivated; its keys cannot read "
                    "balances. Reactivate the agent in the admin."
                )
            return True
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not user.is_staff:
            raise exceptions.PermissionDenied("The staff API needs a user with staff status.")
        if user.has_perm(PERMISSION):
            return True
        raise exceptions.PermissionDenied(
            f"This needs the permission {PERMISSION}; ask an administrator for a group "
            "that has it (Account managers, Finance and Viewers do)."
        )


def key_agent(request) -> Agent | None:
    """The agent whose key made the request; None for staff and organisation keys."""
    return request.auth.agent if isinstance(request.auth, AgentAPIKey) else None


def not_found(label: str, value: str, agent: Agent | None) -> exceptions.NotFound:
    """The same answer for a customer that does not exist and one the key may not see."""
    whose = f" billed by agent {agent.external_id!r}" if agent else ""
    return exceptions.NotFound(printable(f"No customer with {label} {value!r}{whose}."))


def no_parameters(request) -> None:
    if request.query_params:
        refused = ["Unknown parameter: this endpoint takes none."]
        raise exceptions.ValidationError({name: refused for name in request.query_params})


# --- The body ------------------------------------------------------------------------
def _money(value, currency: str) -> str:
    return str(round_line(value, currency) + 0)


def budget_body(budget: Budget | None, balance: CustomerBalance) -> dict | None:
    if budget is None:
        return None
    currency = balance.currency
    measured = budget.measure(
        spend_period=balance.spend_period, granted=balance.granted, remaining=balance.remaining
    )
    used, of = measured if measured else (None, None)
    percent = None if of is None else margin_percent(used, of)  # used as a % of `of`
    return {
        "limit": budget.limit,
        "enforcement": budget.enforcement,
        "amount": None if budget.amount is None else _money(budget.amount, currency),
        "used": None if used is None else _money(used, currency),
        "of": None if of is None else _money(of, currency),
        "used_percent": None if percent is None else str(percent),
    }


def balance_body(customer: Customer, balance: CustomerBalance, budget, now) -> dict:
    currency = balance.currency
    period = None
    if balance.period_starts_at is not None:
        period = {
            "starts_at": balance.period_starts_at.isoformat(),
            "ends_at": balance.period_ends_at.isoformat(),
        }
    return {
        "customer": customer.external_id,
        "currency": currency,
        "allowed": balance_allowed(balance, budget),
        "granted": _money(balance.granted, currency),
        "used_closed": _money(balance.used_closed, currency),
        "used_open": _money(balance.used_open, currency),
        "remaining": _money(balance.remaining, currency),
        "spend_open": _money(balance.spend_open, currency),
        "overage_open": _money(balance.overage_open, currency),
        "spend_period": _money(balance.spend_period, currency),
        "period": period,
        "budget": budget_body(budget, balance),
        "grants": balance.grants,
        "as_of": balance.checked_at.isoformat(),
        "age_seconds": age_seconds(balance, now),
        "lag_bound_seconds": lag_bound(),
    }


# --- OpenAPI -------------------------------------------------------------------------
MONEY_TEXT = "A string at the currency's minor unit: `104.10`, JPY `38323`."


def money(help_text: str, **kwargs):
    return serializers.CharField(help_text=f"{help_text} {MONEY_TEXT}", **kwargs)


class PeriodOut(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class BudgetOut(serializers.Serializer):
    limit = serializers.ChoiceField(Budget.Limit.choices)
    enforcement = serializers.ChoiceField(Budget.Enforcement.choices)
    amount = money("Spend limits: the most a period may charge.", allow_null=True)
    used = money(
        "What the thresholds measure: the current period's spend, or the money credits "
        "used (closed and open). Null: credits only, and no money credits.",
        allow_null=True,
    )
    of = money("The spend limit, or the money credits granted.", allow_null=True)
    used_percent = serializers.CharField(
        allow_null=True, help_text="used / of x 100, at 2 places; alerts at 50, 80, 100."
    )


class GrantOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField(help_text="paid or promotional.")
    unit = serializers.CharField(help_text="money, or outcomes (of `outcome`).")
    outcome_definition_id = serializers.IntegerField(allow_null=True)
    outcome = serializers.CharField(allow_null=True)
    amount = serializers.CharField(help_text="Granted: money, or a number of outcomes.")
    used_closed = serializers.CharField(help_text="Drawn by issued invoices, net of reversals.")
    used_open = serializers.CharField(help_text="What the open periods would draw now.")
    available = serializers.CharField(help_text="amount - used_closed - used_open.")
    value_open = money("What used_open is worth on the invoice.")
    effective_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    applies_to_fees = serializers.BooleanField()


class BalanceOut(serializers.Serializer):
    customer = serializers.CharField(help_text="The customer's external id.")
    currency = serializers.CharField()
    allowed = serializers.BooleanField(
        help_text="False only under a hard budget: at its spend limit for the period, or "
        "credits only with no credit left. Signals are accepted either way and billed as "
        "overage at close."
    )
    granted = money("Money grants in the balance: their amounts.")
    used_closed = money("Drawn from them by issued invoices, net of reversals.")
    used_open = money("What the open periods would draw from them if they closed now.")
    remaining = money("granted - used_closed - used_open.")
    spend_open = money("The open periods' charges, before credits and tax.")
    overage_open = money("The part of spend_open that no credit covers.")
    spend_period = money("The current period's charges alone (what a spend limit measures).")
    period = PeriodOut(allow_null=True, help_text="The current period; null outside any.")
    budget = BudgetOut(allow_null=True)
    grants = GrantOut(many=True)
    as_of = serializers.DateTimeField(
        help_text="When these figures were last known exact: computed, or "
        "found with none of their inputs changed since."
    )
    age_seconds = serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        coerce_to_string=False,
        help_text="How old they are, to the millisecond.",
    )
    lag_bound_seconds = serializers.IntegerField(
        help_text="They are never older than this (BALANCE_LAG_SECONDS)."
    )


EXTERNAL_ID = OpenApiParameter(
    "external_id", str, OpenApiParameter.PATH, description="The customer's external id."
)


# --- The view ------------------------------------------------------------------------
class CustomerBalanceView(APIView):
    authentication_classes = [
        StaffTokenAuthentication,  # `Token ...`; returns None for other schemes
        AgentKeyAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [BalanceReaders]
    throttle_classes = [AgentKeyThrottle]
    renderer_classes = [DecimalJSONRenderer]

    def get_authenticate_header(self, request):
        return AgentKeyAuthentication().authenticate_header(request)

    @extend_schema(
        operation_id="getCustomerBalance",
        summary="A customer's live balance: credits, open use, budget, allowed",
        parameters=[EXTERNAL_ID],
        responses={
            200: BalanceOut,
            400: OpenApiResponse(FIELD_ERRORS_OR_DETAIL, "A query parameter was sent."),
            401: detail("No API key or token, or an unknown, revoked or expired one."),
            403: detail(
                "A staff user without billing.view_customerbalance, or the key's agent is "
                "deactivated."
            ),
            404: detail(
                "No such customer, or (an agent's key) a customer the agent does not bill: "
                "the same answer."
            ),
            429: detail(f"Too many requests for this key. {RETRY_LATER}"),
        },
        description="Figures in the customer's currency, at most `lag_bound_seconds` old "
        "(`as_of`, `age_seconds`). See docs/balance.md.",
    )
    def get(self, request, external_id: str):
        no_parameters(request)
        agent = key_agent(request)
        found = None
        if not text_problem(external_id) and len(external_id) <= 200:
            found = balance_lookup(agent_id=agent and agent.pk, external_id=external_id)
        if found is None:
            raise not_found("external id", external_id, agent)
        now = timezone.now()
        balance = balance_current(found.customer, stored=found.stored, now=now)
        return Response(balance_body(found.customer, balance, found.budget, now))
