"""Webhook endpoints in the admin: Finance adds and edits them (the secret is shown once,
on the page after saving or rotating), re-enables disabled ones; account managers read.

The secret page is POST-redirect-GET: saving or rotating keeps the new secret in the
session of the user who did it, and the first GET of the endpoint's secret page takes it
out of the session and shows it; a reload (or anyone else) finds nothing there, and no
reload re-posts the form."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from config.admin_tools import time_column
from webhooks.endpoints import endpoint_enable, endpoint_secret_rotate
from webhooks.models import ALL_EVENTS, Endpoint, EventType, secret_new
from webhooks.targets import TargetError, url_check

EVENT_CHOICES = [(ALL_EVENTS, "All events (including types added later)"), *EventType.choices]
SECRET_TEMPLATE = "admin/webhooks/endpoint/secret_once.html"
SESSION_KEY = "webhook_secret_once"  # {endpoint pk: [secret, created]}


class EndpointForm(forms.ModelForm):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        help_text="Where events are POSTed: an http:// or https:// URL.",
        widget=forms.URLInput(attrs={"size": 80}),
        error_messages={
            "max_length": "Use a URL of at most %(limit_value)s characters (this one has "
            "%(show_value)s)."
        },
    )
    event_types = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "Choose at least one event type, or all events.",
            "invalid_choice": "Unknown event type “%(value)s”: choose one from the list.",
        },
    )

    class Meta:
        model = Endpoint
        fields = ("url", "description", "event_types", "active")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # No maxlength in the page: the browser would cut a longer pasted URL silently
        # (and save another URL); the server refuses it with the error above instead.
        self.fields["url"].widget.attrs.pop("maxlength", None)

    def clean_url(self):
        try:
            return url_check(self.cleaned_data["url"])
        except TargetError as exc:
            raise ValidationError(str(exc)) from None

    def clean_event_types(self):
        chosen = self.cleaned_data["event_types"]
        if ALL_EVENTS in chosen:
            return [ALL_EVENTS]
        return [value for value in EventType.values if value in chosen]


@admin.register(Endpoint)
class EndpointAdmin(SimpleHistoryAdmin):
    form = EndpointForm
    list_display = (
        "url",
        "description",
        "state",
        "events_shown",
        "failures",
        "last_success",
        "last_failure",
        "secret_shown",
    )
    # Fits 1366 px (no app sidebar): short times; a long URL wraps (base_site.html).
    failures = admin.display(description="failures", ordering="failure_run")(
        lambda self, obj: obj.failure_run
    )
    last_success = time_column("last_success_at", description="last success")
    last_failure = time_column("last_failure_at", description="last failure")
    list_filter = ("active",)
    search_fields = ("url", "description")
    actions = ("rotate_secret", "reenable")
    info_fields = (
        "state",
        "secret_shown",
        "secret_rotated_at",
        "failure_run",
        "last_success_at",
        "last_failure_at",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "created_by",
    )

    def get_fields(self, request, obj=None):
        fields = ["url", "description", "event_types", "active"]
        return fields if obj is None else [*fields, *self.info_fields]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.info_fields

    @admin.display(description="state")
    def state(self, obj):
        if obj.active:
            return "active"
        return "disabled after failures" if obj.disabled_at else "paused"

    @admin.display(description="events")
    def events_shown(self, obj):
        return "all" if ALL_EVENTS in obj.event_types else ", ".join(obj.event_types)

    @admin.display(description="secret")
    def secret_shown(self, obj):
        # The whole secret is shown once; its end tells Finance which one a receiver has.
        return format_html('<span style="white-space:nowrap">{}</span>', obj.secret_hint)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.secret, obj.created_by = secret_new(), request.user
            obj.save()
            return
        fields = list(form.changed_data)
        if "active" in fields and obj.active:  # Finance turned it on again
            obj.failure_run, obj.disabled_at, obj.disabled_reason = 0, None, ""
            fields += ["failure_run", "disabled_at", "disabled_reason"]
        if fields:
            obj.save(update_fields=fields)  # never the counters workers are updating

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/secret/", view(self.secret_view), name="webhooks_endpoint_secret"),
            *super().get_urls(),
        ]

    def response_add(self, request, obj, post_url_continue=None):
        return self._secret_redirect(request, obj, obj.secret, created=True)

    def _secret_redirect(self, request, endpoint, secret, *, created):
        kept = request.session.get(SESSION_KEY, {})
        kept[str(endpoint.pk)] = [secret, created]
        request.session[SESSION_KEY] = kept
        return HttpResponseRedirect(reverse("admin:webhooks_endpoint_secret", args=[endpoint.pk]))

    def secret_view(self, request, pk):
        """Shows the secret kept by the save or rotation just done, once; afterwards the
        endpoint's page (which shows only its last 4 characters)."""
        endpoint = get_object_or_404(Endpoint, pk=pk)
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        kept = request.session.get(SESSION_KEY, {})
        shown = kept.pop(str(pk), None)
        if shown is None:
            self.message_user(
                request,
                "The secret was shown once, after saving or rotating; this page shows only "
                "its last 4 characters. Rotate it for a new one.",
                messages.INFO,
            )
            return HttpResponseRedirect(reverse("admin:webhooks_endpoint_change", args=[pk]))
        request.session[SESSION_KEY] = kept
        secret, created = shown
        messages.warning(request, "Copy the secret now: it will not be shown again.")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Endpoint created" if created else "Secret rotated",
            "endpoint": endpoint,
            "secret": secret,
            "created": created,
        }
        response = TemplateResponse(request, SECRET_TEMPLATE, context)
        response["Cache-Control"] = "no-store"  # not kept by the browser either
        return response

    @admin.action(description="Rotate the secret (shown once)", permissions=["change"])
    def rotate_secret(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one endpoint to rotate its secret.", messages.ERROR
            )
            return None
        endpoint = queryset.get()
        secret = endpoint_secret_rotate(endpoint_id=endpoint.pk)
        return self._secret_redirect(request, endpoint, secret, created=False)

    @admin.action(description="Re-enable the selected endpoints", permissions=["change"])
    def reenable(self, request, queryset):
        enabled = [e for e in queryset.order_by("pk") if endpoint_enable(endpoint_id=e.pk)]
        if enabled:
            self.message_user(
                request,
                f"Re-enabled: {', '.join(str(e) for e in enabled)}. Replay what they missed "
                "from Webhooks > Deliveries.",
                messages.SUCCESS,
            )
        skipped = queryset.count() - len(enabled)
        if skipped:
            self.message_user(request, f"{skipped} already active.", messages.INFO)
