from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from agents.models import Agent, AgentAPIKey


class Command(BaseCommand):
    help = (
        "Create an API key for an agent (or, with --organisation, for every agent) and print it "
        "once. Only a hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("agent", nargs="?", help="The agent's external id.")
        parser.add_argument("--organisation", action="store_true", help="A key for any agent.")
        parser.add_argument("--name", default="", help="A label for the key.")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args, agent, organisation, name, expires_in_days, **options):
        if bool(agent) == organisation:
            raise CommandError("Name an agent's external id, or pass --organisation (not both).")
        owner = None
        if agent:
            owner = Agent.objects.filter(external_id=agent).first()
            if owner is None:
                known = ", ".join(Agent.objects.values_list("external_id", flat=True)[:20])
                raise CommandError(f"No agent {agent!r}. Known agents: {known or 'none'}.")
        if expires_in_days is not None and expires_in_days <= 0:
            raise CommandError("--expires-in-days must be 1 or more.")
        expiry = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        _, key = AgentAPIKey.objects.create_key(
            name=name or f"{agent or 'organisation'} key", agent=owner, expiry_date=expiry
        )
        self.stdout.write(key)
        self.stderr.write(
            "Store this key now: it is shown once. Send it as 'Authorization: Bearer <key>'."
        )
