"""The accounting export in the admin: a form of two days under Invoices that downloads
the journal CSV (billing/journal.py), the same bytes as `manage.py export_journal`.
Finance only: who keeps the seller profile keeps its account codes and exports the
journal they map to."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from billing.exports import csv_streaming_response
from billing.journal import JOURNAL_COLUMNS, JournalRangeError, journal_range_check, journal_rows

JOURNAL_PERMISSION = "billing.change_sellerprofile"


class JournalForm(forms.Form):
    date_from = forms.DateField(
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="A UTC day.",
        error_messages={
            "required": "Give the first day of the range.",
            "invalid": "Give the first day as a date, YYYY-MM-DD (e.g. 2026-01-01).",
        },
    )
    date_to = forms.DateField(
        label="To",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Included.",
        error_messages={
            "required": "Give the last day of the range (it is included).",
            "invalid": "Give the last day as a date, YYYY-MM-DD (e.g. 2026-01-31).",
        },
    )

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to"):
            try:
                journal_range_check(data["date_from"], data["date_to"])
            except JournalRangeError as exc:
                self.add_error("date_to", str(exc))
        return data


def journal_view(model_admin, request):
    """/admin/billing/invoice/journal/: a GET (a read) with both days downloads the CSV;
    without them, or with a day that is no date, the form (with what to fix)."""
    if not request.user.has_perm(JOURNAL_PERMISSION):
        raise PermissionDenied
    form = JournalForm(request.GET or None)
    if form.is_bound and form.is_valid():
        first, last = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        return csv_streaming_response(
            JOURNAL_COLUMNS,
            journal_rows(first=first, last=last),
            filename=f"journal-{first.isoformat()}-{last.isoformat()}.csv",
        )
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "Journal export",
        "form": form,
    }
    return TemplateResponse(request, "admin/billing/invoice/journal.html", context)


def journal_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view
    return [
        path(
            "journal/",
            view(lambda request: journal_view(model_admin, request)),
            name="billing_invoice_journal",
        )
    ]
