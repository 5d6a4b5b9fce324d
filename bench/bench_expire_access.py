"""``expire_access`` benchmark: N memberships ending on the same day, removed against the simulator.

    .venv/bin/python bench/bench_expire_access.py               # 10,000 memberships (the target)
    .venv/bin/python bench/bench_expire_access.py --ends 200    # quicker, while developing

A fresh SQLite database ``var/bench/expire_access.sqlite3``; the simulator in this process over
real HTTP on loopback, with 1.2 N + 200 people (some are admins, suspended or already members);
one sync; N of them added to one group (in the simulator, then mirrored by a second sync) and
given an end date an hour ago. Then one ``access_expire()`` run does the day's removals: one
remote call and one read-back per membership, one audit event each. The target: the run finishes
within one task timeout (TASK_TIMEOUT, 1800 s).
Prints the figures and writes ``bench/results/expire_access.json``.
"""

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DJANGO_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "AUDIT_HMAC_KEY": "bench-key",
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    "LOG_LEVEL": "WARNING",
    "ATLASSIAN_ADMIN_API_KEY": "bench-key-7d3f9a1c5e",
    "ATLASSIAN_API_TOKEN": "bench-key-7d3f9a1c5e",
}


def _sync(org, client_for, organization_sync) -> None:
    with client_for(org) as client:
        outcome = organization_sync(organization=org, client=client)
    if not outcome.ok:
        raise SystemExit(outcome.summary())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ends", type=int, default=10_000, help="memberships ending on the day")
    args = parser.parse_args()
    common.fresh_database("expire_access", env=DJANGO_ENV)
    from django.conf import settings
    from django.utils import timezone

    from accounts.clients import client_for
    from accounts.models import AccessEndStatus, Account, AccountStatus, Group, Membership, MembershipEnd
    from accounts.sync.runner import organization_sync
    from governance.atlassian.simulator import Simulator, SimulatorConfig
    from policies.access.expiry import access_expire

    now = timezone.now().replace(microsecond=0)
    sim = Simulator(
        SimulatorConfig(
            users=args.ends + args.ends // 5 + 200,
            groups=12,
            seed=7,
            org_id="bench-org",
            api_key=DJANGO_ENV["ATLASSIAN_ADMIN_API_KEY"],
            now=now,
        )
    )
    sim.start()
    try:
        from accounts.models import Organization

        org = Organization.objects.create(
            org_id="bench-org", name="Bench", api_base=sim.base_url, credentials_from_env=True
        )
        _sync(org, client_for, organization_sync)
        group = (
            Group.objects.filter(external_synced=False, is_licence_group=False)
            .exclude(directory_id="")
            .order_by("pk")
            .first()
        )
        outside = (
            Account.objects.filter(status=AccountStatus.ACTIVE, is_org_admin=False)
            .exclude(memberships__group=group)
            .order_by("pk")
            .values_list("account_id", flat=True)[: args.ends]
        )
        state = sim.state
        target = state.group_by_id(group.group_id) or state.group_by_name(group.name)
        for account_id in outside:
            state.add_member(target, state.account(account_id))
        _sync(org, client_for, organization_sync)
        members = list(
            Membership.objects.filter(group=group).order_by("account_id").values_list("account_id", flat=True)
        )[: args.ends]
        MembershipEnd.objects.bulk_create(
            MembershipEnd(account_id=pk, group=group, expires_at=now - timedelta(hours=1), reason="bench")
            for pk in members
        )
        started = time.perf_counter()
        run = access_expire(now=now)
        seconds = time.perf_counter() - started
        removed = MembershipEnd.objects.filter(status=AccessEndStatus.REMOVED).count()
    finally:
        sim.stop()
    figures = {
        "ends": len(members),
        "removed": removed,
        "status": run.status if run else "skipped",
        "seconds": round(seconds, 1),
        "per_removal_ms": round(1000 * seconds / max(1, len(members)), 2),
        "task_timeout": settings.TASK_TIMEOUT,
        "within_timeout": seconds < settings.TASK_TIMEOUT,
    }
    print(json.dumps(figures, indent=2))
    common.RESULTS_DIR.mkdir(exist_ok=True)
    (common.RESULTS_DIR / "expire_access.json").write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
