"""/healthz: 200 when the database and the broker answer; 503 naming the one that does not.

Anyone may ask (load balancers do, without credentials), so the answer names only the
component; the error text (hosts, ports, user names) is shown to a logged-in staff user.
"""

from django.db import connection
from django.http import JsonResponse

from config.celery import app as celery_app


def _database_error() -> Exception | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure means "not healthy"; say which
        return exc
    return None


def _broker_error() -> Exception | None:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return exc
    return None


def healthz(request):
    errors = {"database": _database_error(), "broker": _broker_error()}
    if not any(errors.values()):
        return JsonResponse({"status": "ok", "database": "ok", "broker": "ok"})
    staff = request.user.is_active and request.user.is_staff
    problems = [
        f"{component}: {exc.__class__.__name__}: {exc}" if staff else f"{component}: unavailable"
        for component, exc in errors.items()
        if exc is not None
    ]
    return JsonResponse({"status": "unhealthy", "problems": problems}, status=503)
