"""/healthz: 200 when the database and the broker answer; 503 naming the one that does not."""

from django.db import connection
from django.http import JsonResponse

from config.celery import app as celery_app


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means "not healthy"; say which
        return f"database: {exc.__class__.__name__}: {exc}"
    return None


def _broker_ok() -> str | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"broker: {exc.__class__.__name__}: {exc}"
    return None


def healthz(request):
    problems = [p for p in (_database_ok(), _broker_ok()) if p]
    if problems:
        return JsonResponse({"status": "unhealthy", "problems": problems}, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "broker": "ok"})
