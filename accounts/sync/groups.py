"""Groups, the products they grant (licence groups) and the products themselves."""

import threading

from django.db import transaction

from accounts.models import Group, GroupProductGrant, Product
from accounts.pool import concurrency, pacer_for
from accounts.sync.context import SyncContext
from governance.atlassian.records import DirectoryGroup, GroupRoleAssignment

PRODUCT_NAMES = {
    "jira-software": "Jira Software",
    "jira-servicedesk": "Jira Service Management",
    "jira-service-desk": "Jira Service Management",
    "jira-core": "Jira",
    "jira-product-discovery": "Jira Product Discovery",
    "confluence": "Confluence",
    "bitbucket": "Bitbucket",
    "opsgenie": "Opsgenie",
    "statuspage": "Statuspage",
    "trello": "Trello",
    "loom": "Loom",
    "compass": "Compass",
    "rovo": "Rovo",
    "jira-work-management": "Jira Work Management",
}
# Concurrent role-assignment fetches (one forked client each), at most: ATLASSIAN_CONCURRENCY, as
# the services' pools (accounts/pool.py), paced by the organization's pacer like theirs. With 4,
# 2,000 groups at 150 ms a call took 95 s, while the user listing, fetched ahead by one batch only
# (memory), waited for them: a third of a sync against a slow Atlassian (issue 20).
ROLE_THREADS = None
_GROUP_FIELDS = ("name", "description", "directory_id", "external_synced", "managed_by", "member_count", "removed_at")


def ensure_products(ctx: SyncContext, products: dict[str, str]) -> None:
    """Make sure every ``resource ARI -> key`` is a Product row and in the context's lookup."""
    missing = {rid: key for rid, key in products.items() if rid not in ctx.product_pks}
    if not missing:
        return
    # A key the portal has no name for (a product Atlassian added) is mirrored under the key itself:
    # policies can still scope it, and the run's log says so.
    ctx.unknown_product_keys.update(key for key in missing.values() if key not in PRODUCT_NAMES)
    org = ctx.organization
    Product.objects.bulk_create(
        [
            Product(organization=org, resource_id=rid, key=key, name=PRODUCT_NAMES.get(key, key))
            for rid, key in missing.items()
        ],
        ignore_conflicts=True,
    )
    for pk, rid, key in Product.objects.filter(organization=org, resource_id__in=list(missing)).values_list(
        "pk", "resource_id", "key"
    ):
        ctx.product_pks[rid] = pk
        ctx.product_keys[pk] = key
    ctx.counts["products_created"] += len(missing)


def load_products(ctx: SyncContext) -> None:
    for pk, rid, key in Product.objects.filter(organization=ctx.organization).values_list("pk", "resource_id", "key"):
        ctx.product_pks[rid] = pk
        ctx.product_keys[pk] = key


def fetch_group_roles(
    client, groups: list[DirectoryGroup], *, threads: int | None = ROLE_THREADS
) -> dict[str, list[GroupRoleAssignment]]:
    """Every group's role assignments, by group id in the order of ``groups``.

    They are independent GETs, one per group (2,000 groups: 2,000 round trips). A client that can
    fork sends them from ``threads`` threads at once (default ``ATLASSIAN_CONCURRENCY``), each with
    its own fork (its own session) paced by the organization's pacer (accounts/pool.py: the
    process's other runs for the organization count against the same limit); their calls are then
    counted in ``client.stats``. If any fails, the error of the first group (in ``groups`` order)
    that failed is raised once every thread has stopped.
    """
    if threads is None:
        threads = concurrency()

    def fetch(c, group: DirectoryGroup) -> list[GroupRoleAssignment]:
        return c.group_role_assignments(group.id, directory_id=group.directory_id or None)

    if threads < 2 or len(groups) < 2 * threads or not getattr(client, "can_fork", False):
        return {g.id: fetch(client, g) for g in groups}
    results: dict[int, list[GroupRoleAssignment]] = {}
    errors: dict[int, Exception] = {}
    failed = threading.Event()
    pacer = pacer_for(client)
    forks = [client.fork(pacer=pacer) for _ in range(threads)]

    def work(fork, start: int) -> None:
        for i in range(start, len(groups), threads):
            if failed.is_set():
                return
            try:
                results[i] = fetch(fork, groups[i])
            except Exception as exc:  # re-raised by the caller, first group first
                errors[i] = exc
                failed.set()
                return

    workers = [
        threading.Thread(target=work, args=(fork, n), name=f"sync-roles-{n}", daemon=True)
        for n, fork in enumerate(forks)
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        for fork in forks:
            client.stats.add(fork.stats)
            fork.close()
    if errors:
        raise errors[min(errors)]
    return {g.id: results[i] for i, g in enumerate(groups)}


def sync_groups(ctx: SyncContext, groups: list[DirectoryGroup], roles: dict[str, list[GroupRoleAssignment]]) -> None:
    """Upsert changed groups and their grants; remember which groups are licence groups."""
    org = ctx.organization
    existing = {g.group_id: g for g in Group.objects.filter(organization=org)}
    changed: list[Group] = []
    for remote in groups:
        ctx.seen_groups.add(remote.id)
        wanted = {
            "name": remote.name,
            "description": remote.description or "",
            "directory_id": remote.directory_id or "",
            "external_synced": remote.external_synced,
            "managed_by": remote.managed_by or "",
            "member_count": remote.user_count if remote.user_count is not None else 0,
            "removed_at": None,
        }
        current = existing.get(remote.id)
        if current is not None and remote.user_count is None:
            wanted["member_count"] = current.member_count  # not sent this time: keep what we know
        if current is None or any(getattr(current, f) != v for f, v in wanted.items()):
            changed.append(Group(organization=org, group_id=remote.id, **wanted))
    with transaction.atomic():
        if changed:
            Group.objects.bulk_create(
                changed,
                update_conflicts=True,
                unique_fields=["organization", "group_id"],
                update_fields=list(_GROUP_FIELDS),
                batch_size=500,
            )
            ctx.counts["groups_written"] += len(changed)
        ctx.group_pks.update(Group.objects.filter(organization=org).values_list("group_id", "pk"))
        ensure_products(ctx, {a.resource_id: a.resource_owner for items in roles.values() for a in items})
        _sync_grants(ctx, roles)


def _sync_grants(ctx: SyncContext, roles: dict[str, list[GroupRoleAssignment]]) -> None:
    wanted: dict[tuple[int, int], list[str]] = {}
    for group_id, assignments in roles.items():
        group_pk = ctx.group_pks[group_id]
        for assignment in assignments:
            if assignment.roles:
                wanted[(group_pk, ctx.product_pks[assignment.resource_id])] = sorted(assignment.roles)
    current = {
        (g, p): (pk, r)
        for pk, g, p, r in GroupProductGrant.objects.filter(group__organization=ctx.organization).values_list(
            "pk", "group_id", "product_id", "roles"
        )
    }
    # Only groups whose role assignments were fetched this run may lose grants.
    fetched = {ctx.group_pks[g] for g in roles}
    upserts = [
        GroupProductGrant(group_id=g, product_id=p, roles=r)
        for (g, p), r in wanted.items()
        if (g, p) not in current or current[(g, p)][1] != r
    ]
    stale = [pk for (g, p), (pk, _) in current.items() if g in fetched and (g, p) not in wanted]
    if upserts:
        GroupProductGrant.objects.bulk_create(
            upserts, update_conflicts=True, unique_fields=["group", "product"], update_fields=["roles"]
        )
    if stale:
        GroupProductGrant.objects.filter(pk__in=stale).delete()
    ctx.counts["grants_written"] += len(upserts) + len(stale)
    for g, p in wanted:
        ctx.grants_by_group.setdefault(g, set()).add(p)
    ctx.licence_group_pks = set(ctx.grants_by_group)
    groups = Group.objects.filter(organization=ctx.organization)
    flagged = set(groups.filter(is_licence_group=True).values_list("pk", flat=True))
    if flagged != ctx.licence_group_pks:
        groups.filter(pk__in=ctx.licence_group_pks - flagged).update(is_licence_group=True)
        groups.filter(pk__in=flagged - ctx.licence_group_pks).update(is_licence_group=False)
        ctx.counts["groups_written"] += len(flagged ^ ctx.licence_group_pks)
