"""Every run of a process acting for one organization shares one pacer (Atlassian counts their
requests together), whatever the size of each run's pool."""

from types import SimpleNamespace

from accounts.pool import pacer_for


def _client(org_id: str, api_base: str = "http://127.0.0.1:9"):
    return SimpleNamespace(api_base=api_base, org_id=org_id)


def test_runs_of_different_sizes_for_one_organization_share_its_pacer(settings):
    settings.ATLASSIAN_CONCURRENCY = 6
    pacer = pacer_for(_client("org-shared"))
    assert pacer_for(_client("org-shared")) is pacer
    assert pacer.slots == 6  # the setting, not a pool's own worker count


def test_each_organization_has_its_own_pacer(settings):
    settings.ATLASSIAN_CONCURRENCY = 6
    assert pacer_for(_client("org-a")) is not pacer_for(_client("org-b"))
    assert pacer_for(_client("org-a")) is not pacer_for(_client("org-a", api_base="http://127.0.0.1:10"))


def test_two_pools_of_different_sizes_fork_their_clients_onto_one_pacer(settings):
    from accounts.pool import run_paced
    from governance.atlassian.client.client import AtlassianClient

    settings.ATLASSIAN_CONCURRENCY = 4
    # No request is sent: the work only looks at the pacer of the fork it is given.
    client = AtlassianClient(org_id="org-two-pools", api_key="k", api_base="http://127.0.0.1:9")
    seen = []
    for items in (list(range(2)), list(range(9))):  # a pool of 2 workers, then one of 4
        run_paced(
            items,
            lambda item, fork_of: fork_of(client)._transport.pacer,
            on_result=lambda item, pacer: seen.append(pacer),
        )
    client.close()
    assert len(seen) == 11
    assert len({id(p) for p in seen}) == 1
    assert seen[0].slots == 4
