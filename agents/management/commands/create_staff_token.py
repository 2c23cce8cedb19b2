from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from agents.models import StaffAPIKey


class Command(BaseCommand):
    help = (
        "Create an API token for a staff user and print it once. Only a hash is stored; "
        "send it as 'Authorization: Token <key>'."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="An active staff user.")
        parser.add_argument("--name", default="", help="A label for the token.")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, username, name, expires_in_days, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        if not (user.is_active and user.is_staff):
            raise CommandError(f"{username!r} is not an active staff user; tokens are for staff.")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be 1 or more.")
        expiry = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        _, key = StaffAPIKey.objects.create_key(
            name=name or f"{username} token", user=user, expiry_date=expiry
        )
        self.stdout.write(key)
        self.stderr.write(
            "Store this token now: it is shown once. Send it as 'Authorization: Token <key>'."
        )
