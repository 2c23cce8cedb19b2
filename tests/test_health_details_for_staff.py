"""/healthz names the failing component to anyone, its error text only to staff."""

import pytest
from django.contrib.auth.models import User
from django.db import OperationalError

from config import health

pytestmark = pytest.mark.django_db

ERROR = 'connection to server at "db.internal" (10.0.0.5), port 5432 failed'


class DownDatabase:
    def cursor(self):
        raise OperationalError(ERROR)


@pytest.fixture
def database_down(monkeypatch):
    # Only the health check's connection: sessions and users still load.
    monkeypatch.setattr(health, "connection", DownDatabase())


def test_anyone_sees_which_component_is_down_but_not_where_it_lives(client, database_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["database: unavailable"]
    assert "db.internal" not in response.content.decode()
    assert "5432" not in response.content.decode()


def test_a_logged_in_non_staff_user_sees_no_details(client, database_down):
    client.force_login(User.objects.create_user("someone", password="x-123456-y"))
    response = client.get("/healthz")
    assert response.status_code == 503 and "db.internal" not in response.content.decode()


def test_staff_see_the_error_text(client, database_down):
    client.force_login(User.objects.create_user("ops", password="x-123456-y", is_staff=True))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["problems"] == [f"database: OperationalError: {ERROR}"]
