from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents, signals and costs"

    def ready(self) -> None:
        from agents import receivers  # noqa: F401
