"""Billing details in the admin: the seller profile (one row, audited; Finance edits,
everyone views) and tax rates (Finance edits; a rate an invoice used is kept as it is)."""

import base64

from django import forms
from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from billing.models import InvoiceLine, InvoiceTax, SellerProfile, TaxRate
from billing.models.seller import LOGO_MAX_BYTES

# The first bytes of each logo type accepted (the browser's content type is not trusted).
LOGO_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def logo_type_of(data: bytes) -> str | None:
    return next((kind for magic, kind in LOGO_SIGNATURES.items() if data.startswith(magic)), None)


class SellerProfileForm(forms.ModelForm):
    logo_upload = forms.FileField(
        label="logo",
        required=False,
        help_text=f"PNG or JPEG, at most {LOGO_MAX_BYTES // 1024} KB; printed on every invoice.",
    )
    logo_remove = forms.BooleanField(label="remove the logo", required=False)

    class Meta:
        model = SellerProfile
        fields = (
            "legal_name",
            "address_line1",
            "address_line2",
            "address_city",
            "address_state",
            "address_postal_code",
            "address_country",
            "tax_id",
            "registration_number",
            "email",
            "payment_instructions",
            "payment_terms_days",
            "invoice_footer",
            "invoice_number_format",
            "outcome_account_code",
            "fee_account_code",
            "tax_account_code",
            "receivables_account_code",
            "bank_account_code",
            "prepaid_credits_account_code",
            "promotional_credits_account_code",
        )

    def clean_logo_upload(self):
        upload = self.cleaned_data.get("logo_upload")
        if not upload:
            return None
        if upload.size > LOGO_MAX_BYTES:
            raise forms.ValidationError(
                f"The logo is {upload.size / 1024:,.0f} KB: give one of at most "
                f"{LOGO_MAX_BYTES // 1024} KB."
            )
        data = upload.read()
        kind = logo_type_of(data)
        if kind is None:
            raise forms.ValidationError(
                "The logo is neither a PNG nor a JPEG image: export it as one of these."
            )
        return data, kind

    def save(self, commit=True):
        profile = super().save(commit=False)
        if self.cleaned_data.get("logo_upload"):
            profile.logo, profile.logo_type = self.cleaned_data["logo_upload"]
        elif self.cleaned_data.get("logo_remove"):
            profile.logo, profile.logo_type = b"", ""
        if commit:
            profile.save()
        return profile


@admin.register(SellerProfile)
class SellerProfileAdmin(SimpleHistoryAdmin):
    """One row: the list opens it; a GET of a profile never saved shows an empty form and
    creates nothing (saving it creates the row)."""

    form = SellerProfileForm
    readonly_fields = ("missing_fields", "logo_preview")
    fieldsets = (
        (None, {"fields": ("missing_fields",)}),
        (
            "Company",
            {"fields": ("legal_name", "tax_id", "registration_number", "email")},
        ),
        (
            "Address",
            {
                "fields": (
                    "address_line1",
                    "address_line2",
                    ("address_postal_code", "address_city"),
                    "address_state",
                    "address_country",
                )
            },
        ),
        ("Logo", {"fields": ("logo_preview", "logo_upload", "logo_remove")}),
        (
            "Invoices",
            {
                "fields": (
                    "payment_instructions",
                    "payment_terms_days",
                    "invoice_footer",
                    "invoice_number_format",
                )
            },
        ),
        (
            "Accounting export",
            {
                "description": "The accounts the journal export (Invoices › Journal export, "
                "manage.py export_journal) books to. An outcome definition may name its own "
                "revenue account.",
                "fields": (
                    "outcome_account_code",
                    "fee_account_code",
                    "tax_account_code",
                    "receivables_account_code",
                    "bank_account_code",
                    "prepaid_credits_account_code",
                    "promotional_credits_account_code",
                ),
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        # Viewers: the upload fields are no model fields and cannot be shown read-only.
        return [
            (
                name,
                {**opts, "fields": [f for f in opts["fields"] if not str(f).startswith("logo_")]},
            )
            if name != "Logo"
            else (name, {"fields": ("logo_preview",)})
            for name, opts in fieldsets
        ]

    def changelist_view(self, request, extra_context=None):
        return HttpResponseRedirect(reverse("admin:billing_sellerprofile_change", args=[1]))

    def get_object(self, request, object_id, from_field=None):
        if str(object_id) != "1":
            return None
        return SellerProfile.current()

    def has_add_permission(self, request):
        return False  # the one row is created by saving its change page

    def has_delete_permission(self, request, obj=None):
        return False

    def response_change(self, request, obj):
        # Back to the profile itself: there is no list to return to.
        self.message_user(request, "The seller profile was saved.")
        return HttpResponseRedirect(reverse("admin:billing_sellerprofile_change", args=[1]))

    @admin.display(description="missing for closing")
    def missing_fields(self, obj):
        missing = obj.missing if obj else SellerProfile().missing
        if not missing:
            return "Nothing: invoices can be issued."
        return format_html(
            '<strong style="color:#b91c1c">Closing refuses to issue invoices until these are '
            "filled: {}.</strong>",
            ", ".join(missing),
        )

    @admin.display(description="current logo")
    def logo_preview(self, obj):
        if not obj or not obj.logo:
            return "No logo."
        data = base64.b64encode(bytes(obj.logo)).decode()
        return format_html(
            '<img id="logo-preview" src="data:{};base64,{}" alt="logo" '
            'style="max-height:80px;max-width:300px">',
            obj.logo_type,
            data,
        )


@admin.register(TaxRate)
class TaxRateAdmin(SimpleHistoryAdmin):
    """A rate an invoice printed is read-only and cannot be deleted: invoices keep their
    own copy anyway, but a rate that silently differs from what it printed misleads;
    a new rate is added instead."""

    list_display = ("name", "percent", "country", "treatment", "used")
    list_filter = ("treatment", "country")
    search_fields = ("name",)
    fields = ("used_note", "name", "percent", "country", "treatment", "legal_note")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _used=Exists(InvoiceLine.objects.filter(tax_rate=OuterRef("pk")))
                | Exists(InvoiceTax.objects.filter(tax_rate=OuterRef("pk")))
            )
        )

    @admin.display(description="used on invoices", boolean=True, ordering="_used")
    def used(self, obj):
        return obj._used

    @admin.display(description="")
    def used_note(self, obj):
        if obj is None or not getattr(obj, "_used", False):
            return "Not used on any invoice yet: it can be changed."
        return format_html(
            "<strong>{}</strong> {}",
            "Used on issued invoices: it cannot be changed or deleted.",
            "Invoices keep the rate they printed; to charge another rate, add a new one and "
            "assign it to the customers and agreements.",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj._used:
            return self.fields
        return ("used_note",)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj._used:
            return False
        return super().has_delete_permission(request, obj)
