"""Writes of the agent catalogue (Paid's products): create and change agents.

An agent's external id is the `agent_id` its signals and costs name it by, so it stays
unique (a conflict otherwise). Agents are never deleted here: signals, costs and
outcome definitions point at them.
"""

from agents.models import Agent
from customers.services import save_unique_external_id, update_locked


def agent_create(
    *, external_id: str, name: str, description: str = "", active: bool = True
) -> Agent:
    agent = Agent(external_id=external_id, name=name, description=description, active=active)
    save_unique_external_id(agent, noun="Agent")
    return agent


def agent_update(*, agent: Agent, **changes: object) -> Agent:
    """Change the named Agent fields. A deactivated agent's keys stop posting within
    API_KEY_CACHE_SECONDS (HasAgentKey reads the agent with the key)."""
    return update_locked(agent, changes, noun="Agent")
