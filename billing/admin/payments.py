"""Payments in the admin: the invoice page's list of payments, and the form Finance
records a payment with (it calls billing.receivables.payment_record and shows its
refusal on the field it names)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from billing.errors import PaymentError
from billing.models import Invoice, Payment
from billing.money import format_money
from billing.receivables import payment_record
from config.admin_tools import money_column
from customers.currencies import currency_parse

PAYMENT_FIELDS = ("amount", "currency", "received_on", "reference")


class PaymentInline(admin.TabularInline):
    """The invoice's payments, read-only: recorded through the payment form only."""

    model = Payment
    fields = ("received_on", "amount_display", "currency", "reference", "recorded_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    amount_display = money_column("amount", description="amount")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PaymentForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=20,
        decimal_places=8,
        help_text="As credited, in the invoice's currency; at most the amount due.",
    )
    currency = forms.CharField(max_length=3, help_text="ISO 4217, e.g. USD.")
    received_on = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}), help_text="Not in the future."
    )
    reference = forms.CharField(
        max_length=Payment._meta.get_field("reference").max_length,
        required=False,
        help_text="The bank or processor reference; a reference is recorded once.",
    )

    def clean_currency(self):
        try:
            return currency_parse(self.cleaned_data["currency"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


def invoice_pay_view(model_admin, request, pk):
    """/admin/billing/invoice/<pk>/pay/: Finance records a payment (billing.add_payment).
    A GET shows the form and writes nothing."""
    if not request.user.has_perm("billing.add_payment"):  # before looking: no existence leak
        raise PermissionDenied
    invoice = get_object_or_404(Invoice.objects.select_related("customer"), pk=pk)
    initial = {"currency": invoice.currency, "received_on": timezone.localdate()}
    form = PaymentForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            payment, created = payment_record(
                invoice_id=invoice.pk, user=request.user, **form.cleaned_data
            )
        except PaymentError as exc:
            field, _, text = str(exc).partition(": ")
            if field in PAYMENT_FIELDS and text:
                form.add_error(field, text)
            else:
                form.add_error(None, str(exc))
        else:
            amount = f"{format_money(payment.amount, payment.currency)} {payment.currency}"
            if created:
                model_admin.message_user(request, f"Payment of {amount} recorded.")
            else:
                model_admin.message_user(
                    request,
                    f"This payment ({amount}, “{payment.reference}”) was recorded already.",
                    messages.WARNING,
                )
            return HttpResponseRedirect(reverse("admin:billing_invoice_change", args=[pk]))
    return TemplateResponse(
        request,
        "admin/billing/invoice/pay.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": f"Record a payment of invoice {invoice.number}",
            "invoice": invoice,
            "form": form,
        },
    )


def payment_urls(model_admin) -> list:
    view = model_admin.admin_site.admin_view
    return [
        path(
            "<int:pk>/pay/",
            view(lambda request, pk: invoice_pay_view(model_admin, request, pk)),
            name="billing_invoice_pay",
        )
    ]
