from django.contrib import admin
from django.urls import path

from config.health import healthz

admin.site.site_header = "Outcome billing back-office"
admin.site.site_title = "Outcome billing"
admin.site.index_title = "Meter for margins, bill for outcomes"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
