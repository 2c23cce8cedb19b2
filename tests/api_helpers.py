"""Shared setup for API tests: agents with keys and a client that sends a key."""

import json

from agents.models import AgentAPIKey


def agent_key(agent=None, **kwargs) -> str:
    _, key = AgentAPIKey.objects.create_key(name="test", agent=agent, **kwargs)
    return key


def post(client, url, body, key, scheme="Bearer", **extra):
    return client.post(
        url,
        data=body if isinstance(body, str | bytes) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"{scheme} {key}",
        **extra,
    )
