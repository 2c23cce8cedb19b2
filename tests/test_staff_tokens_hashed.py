"""Staff API tokens: stored hashed, printed once by a command, sent as `Token <key>`."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from agents.models import StaffAPIKey

pytestmark = pytest.mark.django_db


def staff(username="ops", **kwargs):
    # A superuser reads everything, whatever model permissions the API checks.
    defaults = {"is_staff": True, "is_superuser": True}
    return User.objects.create_user(username, password="x-123456-y", **{**defaults, **kwargs})


def create_token(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_staff_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_the_command_prints_a_working_token_once_and_stores_only_its_hash(client):
    user = staff()
    key, note = create_token("ops", "--expires-in-days", "30")
    assert "shown once" in note
    stored = StaffAPIKey.objects.get()
    assert stored.user == user and stored.expiry_date is not None
    assert key not in stored.hashed_key and key.split(".")[0] == stored.prefix
    response = client.get("/api/v1/signals", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


def test_tokens_are_for_active_staff_only():
    User.objects.create_user("customer-user", password="x-123456-y")
    with pytest.raises(CommandError, match="not an active staff user"):
        create_token("customer-user")
    with pytest.raises(CommandError, match="No user 'ghost'"):
        create_token("ghost")


@pytest.mark.parametrize(
    "spoil",
    [
        lambda token, key: key[:-1] + ("x" if key[-1] != "x" else "y"),  # wrong secret
        lambda token, key: StaffAPIKey.objects.filter(pk=token.pk).update(revoked=True) and key,
        lambda token, key: User.objects.filter(pk=token.user_id).update(is_active=False) and key,
    ],
    ids=["wrong-secret", "revoked", "user-deactivated"],
)
def test_a_wrong_revoked_or_orphaned_token_reads_nothing(client, spoil):
    key, _ = create_token(staff().username)
    key = spoil(StaffAPIKey.objects.get(), key)
    response = client.get("/api/v1/signals", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code in (401, 403)


def test_a_token_of_someone_no_longer_staff_reads_nothing(client):
    user = staff(is_superuser=False)
    key, _ = create_token(user.username)
    User.objects.filter(pk=user.pk).update(is_staff=False)
    response = client.get("/api/v1/signals", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 403
