"""Events, their deliveries and every attempt, read-only; Finance's "Replay" action sends
an event again to an endpoint (same id and payload, a new attempt and signature time)."""

import json

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from config.admin_tools import CappedCountPaginator, ReadOnlyAdmin, time_column
from webhooks.endpoints import ReplayError, event_replay
from webhooks.models import Attempt, Delivery, Event

DELIVERY_FIELDS = (
    "endpoint",
    "replay",
    "state",
    "attempts",
    "next_attempt_at",
    "give_up_at",
    "delivered_at",
    "last_error",
    "requested_by",
    "created_at",
)


class ReplayMixin:
    def has_replay_permission(self, request):
        return request.user.has_perm("webhooks.replay_event")

    def _replay(self, request, pairs) -> None:
        done, refused = [], []
        for event_id, endpoint_id in pairs:
            try:
                event_replay(event_id=event_id, endpoint_id=endpoint_id, user=request.user)
                done.append(event_id)
            except ReplayError as exc:
                refused.append(str(exc))
        if done:
            self.message_user(
                request,
                f"Replay queued: {len(done)} ({', '.join(sorted(set(done)))}).",
                messages.SUCCESS,
            )
        for reason in sorted(set(refused)):
            self.message_user(request, f"Not replayed: {reason}", messages.ERROR)
        if not done and not refused:
            self.message_user(request, "Nothing to replay: no endpoint got it.", messages.WARNING)


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = readonly_fields = DELIVERY_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("endpoint", "event", "requested_by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReplayMixin, ReadOnlyAdmin):
    # Fits 1366 px (no app sidebar): the key and the full time are on the event's page.
    list_display = ("id", "type", "created", "delivered", "waiting", "failed")
    created = time_column("created_at", description="recorded")
    list_filter = ("type",)
    search_fields = ("=id", "key")
    date_hierarchy = "created_at"
    fields = readonly_fields = ("id", "type", "key", "created_at", "payload_shown")
    inlines = [DeliveryInline]
    actions = ("replay",)
    paginator = CappedCountPaginator

    def get_queryset(self, request):
        count = lambda *states: Count("deliveries", filter=Q(deliveries__state__in=states))  # noqa: E731
        return (
            super()
            .get_queryset(request)
            .annotate(
                _delivered=count(Delivery.State.DELIVERED),
                _waiting=count(
                    Delivery.State.PENDING, Delivery.State.RETRYING, Delivery.State.SENDING
                ),
                _failed=count(Delivery.State.FAILED),
            )
        )

    @admin.display(description="delivered", ordering="_delivered")
    def delivered(self, obj):
        return obj._delivered

    @admin.display(description="waiting", ordering="_waiting")
    def waiting(self, obj):
        return obj._waiting

    @admin.display(description="failed", ordering="_failed")
    def failed(self, obj):
        return obj._failed

    @admin.display(description="payload")
    def payload_shown(self, obj):
        pretty = json.dumps(obj.payload, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html('<pre style="white-space:pre-wrap">{}</pre>', pretty)

    @admin.action(description="Replay to the endpoints it was sent to", permissions=["replay"])
    def replay(self, request, queryset):
        pairs = (
            Delivery.objects.filter(event__in=queryset, replay=False)
            .order_by("event_id", "endpoint_id")
            .values_list("event_id", "endpoint_id")
            .distinct()
        )
        self._replay(request, list(pairs))


class AttemptInline(admin.TabularInline):
    model = Attempt
    fields = readonly_fields = (
        "number",
        "started_at",
        "duration_ms",
        "signed_at",
        "status_code",
        "succeeded",
        "error",
        "response_excerpt",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReplayMixin, ReadOnlyAdmin):
    """Each event sent to each endpoint, and what became of it; its attempts below."""

    # Fits 1366 px (no app sidebar): short times; whether it is a replay, the last error
    # and the rest are on the delivery's page (and replays have their filter).
    list_display = (
        "event_link",
        "event_type",
        "endpoint",
        "state",
        "attempts",
        "next_attempt",
        "delivered",
    )
    list_filter = ("state", "event__type", "replay", "endpoint")
    next_attempt = time_column("next_attempt_at", description="next attempt")
    delivered = time_column("delivered_at", description="delivered")
    list_select_related = ("event", "endpoint")
    search_fields = ("=event__id", "event__key")
    fields = readonly_fields = ("event", *DELIVERY_FIELDS, "claimed_at")
    inlines = [AttemptInline]
    actions = ("replay_deliveries",)
    paginator = CappedCountPaginator

    @admin.display(description="event", ordering="event_id")
    def event_link(self, obj):
        url = reverse("admin:webhooks_event_change", args=[obj.event_id])
        # Monospace: a random id's width no longer depends on its letters (an id of wide
        # ones pushed the list 2 px past its box at 1366 px).
        return format_html('<a href="{}" style="font-family:monospace">{}</a>', url, obj.event_id)

    @admin.display(description="type", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.action(description="Replay (send the event again)", permissions=["replay"])
    def replay_deliveries(self, request, queryset):
        pairs = (
            queryset.order_by("event_id", "endpoint_id")
            .values_list("event_id", "endpoint_id")
            .distinct()
        )
        self._replay(request, list(pairs))
