"""The admin's login is throttled (django-axes): after AXES_FAILURE_LIMIT (5) wrong
passwords for a username from one address, even the right password is refused with a
lockout page (429) until the cool-off (AXES_COOLOFF_MINUTES, 15) has passed. The lock is
on the pair username + IP: other users behind the same address still log in."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.db.models import F

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "right-pass-123"


@pytest.fixture
def staff():
    User.objects.create_user("ana", password=PASSWORD, is_staff=True, is_superuser=True)
    User.objects.create_user("ben", password=PASSWORD, is_staff=True, is_superuser=True)


def log_in(client, username, password=PASSWORD, ip="10.0.0.1"):
    return client.post(
        LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, follow=False
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def fail(client, username, times, ip="10.0.0.1"):
    for _ in range(times):
        response = log_in(client, username, "wrong-guess", ip=ip)
        assert response.status_code in (200, 429)  # the form again, then the lockout page


def test_five_wrong_passwords_then_the_right_one_is_refused(client, staff):
    fail(client, "ana", 5)
    response = log_in(client, "ana")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Login locked: too many failed attempts" in page and "ana" in page
    assert "Try again in 15 minutes" in page
    assert "Outcome billing back-office" in page  # the admin's look, not a bare text
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_four_wrong_passwords_do_not_lock_and_a_login_resets_the_count(client, staff):
    fail(client, "ana", 4)
    assert logged_in(log_in(client, "ana"))
    client.logout()
    fail(client, "ana", 4)
    assert logged_in(log_in(client, "ana"))


def test_the_lock_is_per_username_and_address(client, staff):
    fail(client, "ana", 5, ip="10.0.0.1")
    assert log_in(client, "ana", ip="10.0.0.1").status_code == 429
    # A colleague behind the same address is not locked out ...
    assert logged_in(log_in(client, "ben", ip="10.0.0.1"))
    client.logout()
    # ... nor is ana from another address.
    assert logged_in(log_in(client, "ana", ip="10.0.0.2"))


def test_after_the_cool_off_the_right_password_works(client, staff):
    fail(client, "ana", 5)
    assert log_in(client, "ana").status_code == 429
    # Time travel: every attempt 14 minutes earlier is still inside the cool-off ...
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=14))
    assert log_in(client, "ana").status_code == 429
    # ... (and that attempt started the wait again); 16 minutes later it has passed.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    assert logged_in(log_in(client, "ana"))


def test_limit_and_cool_off_follow_the_settings(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=3)
    fail(client, "ana", 2)
    response = log_in(client, "ana")
    assert response.status_code == 429 and "Try again in 3 minutes" in response.content.decode()


def test_force_login_is_not_throttled(client, staff):
    # Tests log in with force_login (no password, so nothing for axes to count).
    fail(client, "ana", 5)
    client.force_login(User.objects.get(username="ana"))
    assert client.get("/admin/").status_code == 200


def settings_from_environment(**env) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AXES_")}
    code = "from django.conf import settings as s; print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_environment_configures_limit_and_cool_off():
    assert settings_from_environment() == "5 0:15:00"
    assert settings_from_environment(AXES_FAILURE_LIMIT="3", AXES_COOLOFF_MINUTES="60") == (
        "3 1:00:00"
    )
