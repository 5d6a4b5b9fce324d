"""Fixtures of the Atlassian simulator tests: a small organization served over real HTTP on loopback."""

from datetime import timedelta
from urllib.parse import quote

import pytest
import requests

from governance.atlassian.simulator import Simulator, SimulatorConfig
from tests.clock import SUITE_NOW

NOW = SUITE_NOW - timedelta(days=1)  # the simulator's world, a day before this run started
ORG = "test-org"
API_KEY = "sim-test-key-5c1e"
JIRA_EMAIL = "jira-admin@example.com"


def make_config(**overrides) -> SimulatorConfig:
    values = {
        "users": 60,
        "groups": 12,
        "seed": 11,
        "org_id": ORG,
        "api_key": API_KEY,
        "jira_email": JIRA_EMAIL,
        "now": NOW,
        # These tests drive the simulator's state through writes over "-" to check what it does
        # with them; the default (writes refuse "-", as the documents have it) is pinned in
        # test_simulator_fidelity.py, and the portal's tests all run with it.
        "writes_need_directory": False,
    }
    values.update(overrides)
    return SimulatorConfig(**values)


class Api:
    """Talks to one simulator over HTTP with the right credentials per API family."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.base = sim.base_url
        self.session = requests.Session()
        self.v2p = f"/admin/v2/orgs/{ORG}/directories/-"
        self.v2 = self.base + self.v2p
        self.v1 = f"{self.base}/admin/v1/orgs/{ORG}"

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {API_KEY}", **kwargs.pop("headers", {})}
        return self.session.request(method, self.base + path, headers=headers, timeout=10, **kwargs)

    def jira(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("auth", (JIRA_EMAIL, API_KEY))
        return self.session.request(method, self.base + path, timeout=10, **kwargs)

    def search_users(self, body: dict | None = None, directory: str = "-") -> requests.Response:
        return self.admin("POST", f"/admin/v2/orgs/{ORG}/directories/{directory}/users/search", json=body or {})

    def search_groups(self, body: dict | None = None) -> requests.Response:
        return self.admin("POST", f"/admin/v2/orgs/{ORG}/directories/-/groups/search", json=body or {})

    def user(self, account_id: str, expand=("productAccess", "groups", "platformRoles")) -> dict | None:
        """The v2 search view of one user (None when the search does not return them)."""
        found = self.search_users({"accountIds": [account_id], "expand": list(expand)}).json()["data"]
        return found[0] if found else None

    def all_users(self, body: dict | None = None, limit: int = 7) -> list[dict]:
        users, body = [], {**(body or {}), "limit": limit}
        while True:
            page = self.search_users(body).json()
            users.extend(page["data"])
            if "next" not in page["links"]:
                return users
            body = {"cursor": page["links"]["next"]}

    def close(self) -> None:
        self.session.close()


def enc(value: str) -> str:
    """A path segment, URL-encoded (group ARIs contain ':' and '/')."""
    return quote(value, safe="")


@pytest.fixture
def sim(group_id_form):
    simulator = Simulator(make_config(group_id_form=group_id_form))
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def api(sim):
    client = Api(sim)
    yield client
    client.close()
