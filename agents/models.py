from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from customers.currencies import CURRENCY_CHOICES, validate_currency_code
from customers.models import currency_check


class Agent(models.Model):
    external_id = models.SlugField(
        max_length=100,
        unique=True,
        help_text="The id agents send as agent_id (letters, digits, - and _).",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~Q(external_id=""), name="agent_external_id_set"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"


class AgentAPIKey(AbstractAPIKey):
    """An API key. Hashed at rest; the plain key is shown once when created.

    A key with an agent may only post as that agent; a key without one is the
    organisation's and may post as any agent it names.
    """

    agent = models.ForeignKey(
        Agent,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="api_keys",
        help_text="Leave empty for an organisation key that may post as any agent.",
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class StaffAPIKey(AbstractAPIKey):
    """A staff user's token for reading the API (`Authorization: Token <key>`). Hashed at
    rest; the plain key is shown once (`manage.py create_staff_token`). It acts as its
    user: the user's staff status and permissions decide what it may read."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "staff API token"
        verbose_name_plural = "staff API tokens"


class Signal(models.Model):
    """One event an agent reported. Immutable once stored, and never deleted (invoices
    were computed from it; on PostgreSQL a trigger refuses deletes, agents 0002)."""

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="signals")
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="signals",
        help_text="Empty while no customer has the external id the agent sent.",
    )
    external_customer_id = models.CharField(max_length=200)
    event_name = models.CharField(max_length=200)
    occurred_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    workflow_id = models.CharField(max_length=200, null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    # Read from data on arrival: the trace scope (data.paid.paid_scope_id, as Paid's
    # cost_attributed_signal sends it) and trace id (data.trace_id) whose spans' costs
    # belong to this signal.
    scope_id = models.CharField(max_length=64, null=True, blank=True, editable=False)
    trace_id = models.CharField(max_length=32, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="signal_unique_idempotency_key_per_agent",
            ),
            models.CheckConstraint(condition=~Q(event_name=""), name="signal_event_name_set"),
        ]
        indexes = [
            # "signals of this agreement's customer in this time range"
            models.Index(fields=["customer", "occurred_at"], name="signal_customer_time_idx"),
            # "has this customer a signal newer than its balance?" (billing.balances: one
            # index probe per customer instead of reading its signals)
            models.Index(fields=["customer", "id"], name="signal_customer_id_idx"),
            # "unattributed signals", grouped by the external id they wait for
            models.Index(
                fields=["external_customer_id"],
                condition=Q(customer__isnull=True),
                name="signal_unattributed_idx",
            ),
            models.Index(fields=["agent", "occurred_at"], name="signal_agent_time_idx"),
            models.Index(
                fields=["workflow_id"],
                condition=Q(workflow_id__isnull=False),
                name="signal_workflow_idx",
            ),
            models.Index(
                fields=["agent", "scope_id"],
                condition=Q(scope_id__isnull=False),
                name="signal_scope_idx",
            ),
            models.Index(
                fields=["trace_id"], condition=Q(trace_id__isnull=False), name="signal_trace_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_name} #{self.pk}"

    @property
    def attributed(self) -> bool:
        return self.customer_id is not None


class Cost(models.Model):
    """Money spent to produce work, in its own currency."""

    class Category(models.TextChoices):
        LLM = "llm", "LLM"
        INFRASTRUCTURE = "infrastructure", "Infrastructure"
        TOOL = "tool", "Tool"
        HUMAN = "human", "Human"
        OTHER = "other", "Other"

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="costs")
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="costs",
    )
    external_customer_id = models.CharField(max_length=200, blank=True)
    signal = models.ForeignKey(
        Signal, on_delete=models.PROTECT, null=True, blank=True, related_name="costs"
    )
    source_key = models.CharField(
        max_length=100,
        blank=True,
        help_text="The data key of the signal this cost was read from (e.g. llm_cost).",
    )
    workflow_id = models.CharField(max_length=200, null=True, blank=True)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.OTHER)
    amount = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="Empty for an unpriced cost: a traced model the price catalogue does not know.",
    )
    currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, default="USD", validators=[validate_currency_code]
    )
    vendor = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    input_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    output_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    cache_read_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    cache_write_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    priced_from_catalogue = models.BooleanField(default=False)
    occurred_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # A cost from an OTLP span: its trace, span and (Paid's) scope.
    trace_id = models.CharField(max_length=32, null=True, blank=True)
    span_id = models.CharField(max_length=16, null=True, blank=True)
    scope_id = models.CharField(max_length=64, null=True, blank=True)
    span_name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="cost_unique_idempotency_key_per_agent",
            ),
            # A span re-exported is the same cost: stored once.
            models.UniqueConstraint(
                fields=["trace_id", "span_id"],
                condition=Q(span_id__isnull=False),
                name="cost_unique_span",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=False) | Q(span_id__isnull=False),
                name="cost_amount_set_unless_traced",
            ),
            # A cost read from a signal's data, once per data key. (Traced costs linked to
            # a signal are many, one per span.)
            models.UniqueConstraint(
                fields=["signal", "source_key"],
                condition=Q(signal__isnull=False, span_id__isnull=True),
                name="cost_unique_key_per_signal",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="cost_amount_non_negative"),
            currency_check("currency", "cost_currency_iso4217"),
            models.CheckConstraint(
                condition=Q(category__in=["llm", "infrastructure", "tool", "human", "other"]),
                name="cost_category_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "occurred_at"], name="cost_customer_time_idx"),
            # "has this customer a cost newer than its balance?" (billing.balances)
            models.Index(fields=["customer", "id"], name="cost_customer_id_idx"),
            models.Index(
                fields=["workflow_id"],
                condition=Q(workflow_id__isnull=False),
                name="cost_workflow_idx",
            ),
            models.Index(
                fields=["external_customer_id"],
                condition=Q(customer__isnull=True),
                name="cost_unattributed_idx",
            ),
            # Traced costs waiting for their signal.
            models.Index(
                fields=["agent", "scope_id"],
                condition=Q(signal__isnull=True, scope_id__isnull=False),
                name="cost_waiting_scope_idx",
            ),
            models.Index(
                fields=["trace_id"],
                condition=Q(signal__isnull=True, trace_id__isnull=False),
                name="cost_waiting_trace_idx",
            ),
            # What a close links first (billing.attribution): a customer's waiting spans.
            models.Index(
                fields=["customer"],
                condition=Q(signal__isnull=True, span_id__isnull=False),
                name="cost_waiting_customer_idx",
            ),
        ]

    def __str__(self) -> str:
        if self.amount is None:
            return f"{self.category} unpriced {self.model}"
        # Exact (a single cost is often below the minor unit), at least 2 places.
        amount = self.amount.normalize()
        if amount.as_tuple().exponent > -2:
            amount = amount.quantize(Decimal("0.01"))
        return f"{self.category} {amount:,f} {self.currency}"

    @property
    def unpriced(self) -> bool:
        return self.amount is None
