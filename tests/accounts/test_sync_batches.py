"""The sync's write path: API pages regrouped into batches (the INSERT helper: tests/governance/test_db_bypasses.py)."""

import sys

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.clients import client_for
from accounts.models import Account, Membership, ProductAccess
from accounts.sync import runner
from accounts.sync.groups import fetch_group_roles
from accounts.sync.prefetch import batched, prefetch
from accounts.sync.runner import organization_sync
from accounts.sync.users import apply_user_page
from governance.atlassian.errors import AtlassianError
from governance.db.upsert import rows_per_statement
from tests.statements import InsertCounter


class TestBatched:
    def test_pages_are_joined_whole_into_batches_of_at_least_the_size(self):
        pages = [[1, 2], [3, 4], [5], [6, 7], [8]]
        assert list(batched(pages, size=3)) == [[1, 2, 3, 4], [5, 6, 7], [8]]

    def test_no_page_gives_no_batch_and_empty_pages_one_empty_batch(self):
        assert list(batched([], size=3)) == []
        assert list(batched([[], []], size=3)) == [[]]

    def test_pages_read_before_a_failure_come_out_before_the_error(self):
        def pages():
            yield [1, 2]
            yield [3]
            raise RuntimeError("page 3 failed")

        out = batched(pages(), size=10)
        assert next(out) == [1, 2, 3]
        with pytest.raises(RuntimeError, match="page 3 failed"):
            next(out)

    def test_the_last_size_items_the_count_expects_come_in_batches_a_tenth_the_size(self):
        pages = [[n] for n in range(1, 26)]
        out = [list(batch) for batch in batched(pages, size=10, expected=25)]
        # 16 is the first item of the last ten: from there a batch ends at one item (a tenth of 10)
        assert out == [list(range(1, 11)), list(range(11, 17)), *[[n] for n in range(17, 26)]]

    @pytest.mark.parametrize("expected", [0, 5, 12, 40, 1000])
    def test_a_listing_longer_or_shorter_than_the_count_loses_nothing(self, expected):
        pages = [[n, n + 100] for n in range(20)]
        out = list(batched(pages, size=6, expected=expected))
        assert [item for batch in out for item in batch] == [item for page in pages for item in page]
        assert all(len(batch) < 6 + 2 for batch in out)  # never more than a page past the size


class TestPrefetch:
    def test_the_switch_interval_is_short_while_the_thread_runs_and_restored_after(self):
        before = sys.getswitchinterval()
        seen = [sys.getswitchinterval() for _ in prefetch(iter([[1], [2]]), switch_interval=0.001)]
        assert seen == [min(before, 0.001)] * 2
        assert sys.getswitchinterval() == before

    def test_it_is_restored_when_the_consumer_stops_early(self):
        before = sys.getswitchinterval()
        pages = prefetch(iter([[1], [2], [3]]), switch_interval=0.001)
        next(pages)
        pages.close()
        assert sys.getswitchinterval() == before


@pytest.mark.django_db
def test_pages_are_written_in_batches_and_a_resync_writes_nothing(simulator, organization, monkeypatch):
    sizes, inserts, per_batch = [], InsertCounter(), []

    def apply(ctx, users):
        sizes.append(len(users))
        before = len(inserts.statements)
        apply_user_page(ctx, users)
        per_batch.append(inserts.statements[before:])

    monkeypatch.setattr(runner, "USER_BATCH", 25)
    monkeypatch.setattr(runner, "apply_user_page", apply)
    # 13 pages of 10 users: 120 in the directories and 1 managed account in none
    with client_for(organization, page_size=10, sleep=lambda s: None) as client:
        with connection.execute_wrapper(inserts):
            assert organization_sync(organization=organization, client=client).ok
        # The pages bringing the last 25 users Atlassian counts come a page a batch (a tenth of 25 is 2)
        assert sizes == [30, 30, 30, 10, 10, 10, 1]
        # Each batch sends each big table a few multi-row statements, however many rows it has.
        for model in (Account, ProductAccess, Membership):
            columns = len(model._meta.concrete_fields) - 1  # every column but the primary key
            bound = rows_per_statement(columns).bit_length()
            rows = [[n // columns for table, n in batch if table == model._meta.db_table] for batch in per_batch]
            assert all(len(statements) <= bound for statements in rows), (model, rows)
            assert sum(map(sum, rows)) == model.objects.count()
        # More memberships than those bounds allow statements: one statement per row would fail them.
        assert Membership.objects.count() > len(per_batch) * rows_per_statement(3).bit_length()
        directory = {a.account_id for a in simulator.state.dataset.accounts if simulator.state.in_default_scope(a)}
        assert set(Account.objects.filter(organization=organization).values_list("account_id", flat=True)) == directory
        assert Membership.objects.exists()
        assert ProductAccess.objects.exists()

        with CaptureQueriesContext(connection) as queries:
            assert organization_sync(organization=organization, client=client).ok
    mirror = ('"accounts_account"', '"accounts_membership"', '"accounts_productaccess"', '"accounts_group"')
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith(("INSERT", "UPDATE", "DELETE")) and any(t in q["sql"] for t in mirror)
    ]
    assert writes == []


class TestFetchGroupRoles:
    def test_threads_fetch_the_same_assignments_in_group_order_and_count_their_calls(self, organization, atlassian):
        groups = list(atlassian.iter_groups())
        sequential = fetch_group_roles(atlassian, groups, threads=1)
        before = atlassian.stats.requests
        parallel = fetch_group_roles(atlassian, groups, threads=3)
        assert parallel == sequential
        assert list(parallel) == [g.id for g in groups]
        assert atlassian.stats.requests - before == len(groups)

    def test_a_failure_in_any_thread_is_raised(self, simulator, organization, atlassian):
        groups = list(atlassian.iter_groups())
        simulator.faults.fail_next(1, status=400, path_contains="/role-assignments")
        with pytest.raises(AtlassianError) as failure:
            fetch_group_roles(atlassian, groups, threads=3)
        assert failure.value.status == 400
        assert "role-assignments" in failure.value.path


@pytest.mark.django_db
def test_a_client_that_cannot_fork_syncs_in_one_thread(organization):
    with client_for(organization, session=requests.Session(), sleep=lambda s: None) as client:
        assert not client.can_fork
        result = organization_sync(organization=organization, client=client)
    assert result.ok, result.error
    assert result.http_requests == client.stats.requests
    assert Membership.objects.exists()
