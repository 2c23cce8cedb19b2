"""Outbound webhooks: endpoints Finance configures, the events the back-office records
(one per fact, with a stable id and a payload fixed when recorded), one delivery of an
event to an endpoint, and every attempt of a delivery on the wire."""

import secrets
import time

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

ALL_EVENTS = "*"
# Crockford's base32: ids sort by time, read unambiguously (no I, L, O, U).
_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class EventType(models.TextChoices):
    INVOICE_ISSUED = "invoice.issued", "invoice.issued"
    INVOICE_VOIDED = "invoice.voided", "invoice.voided"
    INVOICE_PAID = "invoice.paid", "invoice.paid"
    CREDIT_NOTE_ISSUED = "credit_note.issued", "credit_note.issued"
    DISPUTE_OPENED = "dispute.opened", "dispute.opened"
    DISPUTE_RESOLVED = "dispute.resolved", "dispute.resolved"
    PERIOD_CLOSED = "period.closed", "period.closed"
    MARGIN_ALERT = "margin.alert", "margin.alert"
    BUDGET_THRESHOLD = "budget.threshold", "budget.threshold"


def secret_new() -> str:
    """`whsec_` + 32 random bytes, url-safe base64 (43 characters)."""
    return "whsec_" + secrets.token_urlsafe(32)


def event_id_new() -> str:
    """`evt_` + 48-bit milliseconds and 80 random bits in base32, ULID-like: unique, and
    ordered by creation time when sorted as text."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_BASE32[index])
    return "evt_" + "".join(reversed(chars))


class Endpoint(models.Model):
    """A URL that receives the events it subscribes to, signed with its secret. Disabled
    automatically (active off, `disabled_at` set) after WEBHOOK_DISABLE_AFTER_FAILURES
    failed attempts in a row; re-enabled by Finance."""

    url = models.URLField(max_length=2000, verbose_name="URL")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list, help_text='Event types sent to this endpoint; ["*"] is all of them.'
    )
    active = models.BooleanField(default=True)
    secret = models.CharField(max_length=100, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    failure_run = models.PositiveIntegerField(
        default=0, editable=False, help_text="Failed attempts in a row (0 after a success)."
    )
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    # The secret never goes into the audit trail: a history row would be a second copy.
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["url", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(secret__startswith="whsec_"), name="webhook_endpoint_secret_format"
            ),
            models.CheckConstraint(
                condition=Q(disabled_at__isnull=True) | Q(active=False),
                name="webhook_endpoint_disabled_is_inactive",
            ),
        ]

    def __str__(self) -> str:
        return self.description or self.url

    def subscribes_to(self, event_type: str) -> bool:
        return ALL_EVENTS in self.event_types or event_type in self.event_types

    @property
    def secret_hint(self) -> str:
        return f"whsec_…{self.secret[-4:]}" if self.secret else ""


class Event(models.Model):
    """One fact, recorded once (its `key` is unique), with the payload sent for it: built
    when recorded and never changed, so every attempt and replay sends the same id and
    content."""

    Type = EventType

    id = models.CharField(primary_key=True, max_length=40, default=event_id_new, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    key = models.CharField(
        max_length=200, unique=True, help_text="The fact it reports, e.g. invoice.issued:42."
    )
    created_at = models.DateTimeField()
    payload = models.JSONField()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("replay_event", "Can replay webhook events")]
        constraints = [
            models.CheckConstraint(
                condition=Q(type__in=EventType.values), name="webhook_event_type_known"
            ),
        ]
        indexes = [models.Index(fields=["type", "-created_at"], name="webhook_event_type_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    """One event to one endpoint. A worker claims it with a conditional UPDATE before
    each attempt, so two workers never send the same attempt. The first delivery of an
    event to an endpoint is unique; a replay is a new row."""

    State = DeliveryState

    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    replay = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    give_up_at = models.DateTimeField(help_text="No attempt is made after this time.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"],
                condition=Q(replay=False),
                name="webhook_delivery_once_per_endpoint",
            ),
            models.CheckConstraint(
                condition=Q(state__in=DeliveryState.values), name="webhook_delivery_state_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["state", "next_attempt_at"],
                condition=Q(state__in=["pending", "retrying", "sending"]),
                name="webhook_delivery_waiting_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} to {self.endpoint}"


class Attempt(models.Model):
    """One POST of a delivery, as it went: logged whatever happened."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    url = models.URLField(max_length=2000, verbose_name="URL")
    signed_at = models.PositiveBigIntegerField(help_text="The signature's t (unix seconds).")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhook_attempt_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error[:40]}"
