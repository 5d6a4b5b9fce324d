"""Shared pieces for the Atlassian client tests: a fake clock and a client aimed at the scripted server."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from governance.atlassian.client import AtlassianClient
from tests.governance.scripted_server import ScriptedServer

ORG_ID = "org-1"
API_KEY = "ATATT-admin-key-SECRET-7f3a9c"
JIRA_EMAIL = "robot@example.com"
JIRA_TOKEN = "jira-token-SECRET-42b1e0"
GROUP_UUID = "1f2e3d4c-0000-4000-8000-000000000001"
GROUP_ARI = "ari:cloud:identity::group/" + GROUP_UUID
GROUP_ARI_IN_PATH = "ari%3Acloud%3Aidentity%3A%3Agroup%2F1f2e3d4c-0000-4000-8000-000000000001"
START = datetime(2026, 8, 3, 10, 0, 0, tzinfo=UTC)


class FakeTime:
    """An injectable ``sleep``/``clock``/``now`` triple: sleeping records the wait and moves time on."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.monotonic = 1000.0
        self.wall = START

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += timedelta(seconds=seconds)

    def clock(self) -> float:
        return self.monotonic

    def now(self) -> datetime:
        return self.wall

    def iso_in(self, seconds: float) -> str:
        return (self.wall + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def client_for(server: ScriptedServer, clock: FakeTime, **overrides: Any) -> AtlassianClient:
    """A client whose Admin, lifecycle and Jira calls all go to ``server``, with fake time."""
    options: dict[str, Any] = {
        "org_id": ORG_ID,
        "api_key": API_KEY,
        "api_base": server.url,
        "site_url": server.url,
        "jira_email": JIRA_EMAIL,
        "jira_api_token": JIRA_TOKEN,
        "timeout": (2.0, 5.0),
        "sleep": clock.sleep,
        "clock": clock.clock,
        "now": clock.now,
        "rng": random.Random(1234),
    }
    options.update(overrides)
    return AtlassianClient(**options)


def v2_user(account_id: str, **extra: Any) -> dict[str, Any]:
    return {"accountId": account_id, "accountType": "atlassian", "status": "active", "name": account_id, **extra}


def jira_user(account_id: str, *, active: bool = True) -> dict[str, Any]:
    return {"accountId": account_id, "accountType": "atlassian", "active": active, "displayName": account_id}
