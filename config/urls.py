from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from agents.api.otlp import TracesView
from billing.views import (
    outcome_statement,
    statement_credit_note_pdf,
    statement_dispute,
    statement_invoice_pdf,
)
from config.api import ApiDocsPermission
from config.health import healthz

admin.site.site_header = "Outcome billing back-office"
admin.site.site_title = "Outcome billing"
admin.site.index_title = "Meter for margins, bill for outcomes"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("statements/<str:token>/", outcome_statement, name="outcome-statement"),
    path("statements/<str:token>/dispute/", statement_dispute, name="statement-dispute"),
    path("statements/<str:token>/invoice.pdf", statement_invoice_pdf, name="statement-invoice-pdf"),
    path(
        "statements/<str:token>/credit-notes/<int:credit_note_id>.pdf",
        statement_credit_note_pdf,
        name="statement-credit-note-pdf",
    ),
    path("admin/", admin.site.urls),
    # OTLP/HTTP's default path, so an exporter needs only the server's address.
    path("v1/traces", TracesView.as_view(), name="otlp-traces"),
    path("api/otlp/v1/traces", TracesView.as_view(), name="otlp-traces-api"),
    path("api/", include("agents.api.urls")),
    path("api/", include("customers.api.urls")),
    path("api/", include("billing.api.urls")),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[ApiDocsPermission]),
        name="schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[ApiDocsPermission]),
        name="api-docs",
    ),
]
