"""The schema and Swagger UI: public in development, staff only in production
(API_DOCS_PUBLIC); the docs page loads nothing from another host."""

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db

DOCS = ["/api/schema/", "/api/docs/"]


def test_public_by_default_outside_production(client, settings):
    assert settings.API_DOCS_PUBLIC is True  # DJANGO_ENV=development
    for url in DOCS:
        assert client.get(url).status_code == 200, url


def test_staff_only_when_not_public(client, settings):
    settings.API_DOCS_PUBLIC = False
    for url in DOCS:
        assert client.get(url).status_code in (401, 403), url
    client.force_login(User.objects.create_user("someone", password="x-123456-y"))
    for url in DOCS:
        assert client.get(url).status_code == 403, url
    client.force_login(User.objects.create_user("staff", password="x-123456-y", is_staff=True))
    for url in DOCS:
        assert client.get(url).status_code == 200, url


def test_production_defaults_to_staff_only():
    from tests.test_health_and_settings import run_manage

    result = run_manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.API_DOCS_PUBLIC)",
        DJANGO_ENV="production",
        SECRET_KEY="x" * 60 + "-production-secret-0123456789",
        ALLOWED_HOSTS="billing.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "False"


def test_docs_page_loads_only_local_assets_and_they_are_served(client):
    page = client.get("/api/docs/").content.decode()
    for url in re.findall(r"""https?://[^\s"'<>)]+""", page):
        assert urlsplit(url).hostname in ("testserver", None), url
    assets = re.findall(r"""(?:src|href)="([^"]+)\"""", page)
    scripts = [a for a in assets if a.endswith(".js")]
    assert any("swagger-ui-bundle" in a for a in scripts), assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 0, asset
