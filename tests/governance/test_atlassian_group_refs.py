"""A user's groups as the v2 search sends them: one shared record per group."""

from governance.atlassian.client import mappers
from governance.atlassian.client.mappers import directory_user_v2

ARI = "ari:cloud:identity::group/"


def _user(account_id: str, *groups: dict) -> dict:
    return {"accountId": account_id, "status": "active", "groups": list(groups)}


def test_users_in_the_same_group_share_one_record():
    group = {"id": "g-shared-1", "name": "engineering"}
    one = directory_user_v2(_user("a-1", group))
    two = directory_user_v2(_user("a-2", dict(group), {"id": "g-other-1", "name": "sales"}))
    assert one.groups[0] is two.groups[0]
    assert [(g.id, g.name) for g in two.groups] == [("g-shared-1", "engineering"), ("g-other-1", "sales")]


def test_a_group_spelt_as_an_ari_keeps_its_form_and_its_canonical_id():
    uuid = "0f6a1c2e-0000-4000-8000-00000000a11e"
    by_ari = directory_user_v2(_user("a-1", {"id": ARI + uuid, "name": "ops"})).groups[0]
    bare = directory_user_v2(_user("a-2", {"id": uuid, "name": "ops"})).groups[0]
    assert (by_ari.id, by_ari.id_form) == (uuid, "ari")
    assert (bare.id, bare.id_form) == (uuid, "uuid")


def test_a_renamed_group_is_read_with_its_new_name():
    before = directory_user_v2(_user("a-1", {"id": "g-renamed-1", "name": "old name"})).groups[0]
    after = directory_user_v2(_user("a-1", {"id": "g-renamed-1", "name": "new name"})).groups[0]
    assert (before.name, after.name) == ("old name", "new name")
    assert directory_user_v2(_user("a-2", {"id": "g-renamed-1", "name": "new name"})).groups[0] is after


def test_the_shared_records_are_bounded(monkeypatch):
    monkeypatch.setattr(mappers, "_GROUP_REFS_MAX", 3)
    monkeypatch.setattr(mappers, "_group_refs", {})
    for i in range(10):
        directory_user_v2(_user(f"a-{i}", {"id": f"g-bounded-{i}", "name": f"team {i}"}))
        assert len(mappers._group_refs) <= 3
    assert directory_user_v2(_user("a-x", {"id": "g-bounded-0", "name": "team 0"})).groups[0].name == "team 0"
