import pytest

from accounts.clients import client_for
from accounts.models import Organization
from governance.atlassian.simulator import Simulator, SimulatorConfig
from tests.clock import SUITE_NOW

SIM_NOW = SUITE_NOW  # the simulated organization's "now": the start of this test run
API_KEY = "sim-key-7d3f9a1c5e"


@pytest.fixture
def simulator(group_id_form):
    """A small, deterministic organization served over real HTTP on loopback."""
    config = SimulatorConfig(
        users=120, groups=12, seed=7, org_id="sim-org", api_key=API_KEY, now=SIM_NOW, group_id_form=group_id_form
    )
    sim = Simulator(config)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def organization(db, simulator, settings):
    settings.ATLASSIAN_ADMIN_API_KEY = API_KEY
    settings.ATLASSIAN_API_TOKEN = API_KEY
    return Organization.objects.create(
        org_id="sim-org",
        name="Simulated org",
        api_base=simulator.base_url,
        site_url=simulator.base_url,
        jira_email="admin@example.com",
    )


@pytest.fixture
def atlassian(organization):
    """A client for the simulator that never really sleeps (waits are recorded, not slept)."""
    waits: list[float] = []
    with client_for(organization, sleep=waits.append, max_total_wait=30) as client:
        client.waits = waits
        yield client
