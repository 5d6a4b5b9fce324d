"""Onboarding rules after a sync: their cost with 100,000 accounts in the mirror, by the number of
accounts the sync saw for the first time.

    .venv/bin/python bench/bench_onboarding.py                    # 100,000 accounts
    .venv/bin/python bench/bench_onboarding.py --accounts 10000   # quicker

1. A fresh SQLite database ``var/bench/onboarding.sqlite3`` with the benchmarks' mirror
   (``bench/mirror.py``: 2,000 groups, 10 memberships per account) and four enabled rules of the
   kinds people write: an email domain, members of a big group, managed people of the Atlassian
   account type, and one in preview mode (it only counts). The three others are in review mode, so
   what they match is queued as items (enforce mode would add the same accounts through the
   membership services, one remote call each: that part is the simulator's pace, measured by
   ``bench_pace.py``, not this benchmark's).
2. For each size of "new accounts" (the newest primary keys, as a sync inserts them), the after-sync
   hook ``onboarding_after_sync`` runs as the sync calls it; every SQL statement is counted with
   ``connection.execute_wrapper``, split into reads (selection) and writes (items, audit). The
   items are deleted between sizes so that each size starts with nothing queued.

The target (issue 21): a few queries per rule, not per account: reads flat whatever the number of
new accounts; writes are the items' batched INSERTs (one per 500) and one audit event per rule.
Prints the figures and writes ``bench/results/onboarding.json``.
"""

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.mirror import NOW, ORG_ID, generate_mirror

DJANGO_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "AUDIT_HMAC_KEY": "bench-key",
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    "LOG_LEVEL": "WARNING",
}
_READS = ("SELECT",)


class StatementCounter:
    """``connection.execute_wrapper``: counts reads and everything else."""

    def __init__(self):
        self.reads = self.others = 0

    def __call__(self, execute, sql, params, many, context):
        if sql.lstrip().upper().startswith(_READS):
            self.reads += 1
        else:
            self.others += 1
        return execute(sql, params, many, context)


def make_rules(organization) -> list:
    from accounts.models import Group
    from governance.audit.record import Actor
    from policies.models import OnboardingRule, PolicyMode
    from policies.services.onboarding import onboarding_rule_save

    actor = Actor.system("bench_onboarding")
    big = Group.objects.filter(organization=organization).order_by("pk").first()
    targets = list(Group.objects.filter(organization=organization).order_by("-pk")[:3])
    specs = [
        ("Example.com people get the wiki", {"email_pattern": "*@example.com"}, PolicyMode.REVIEW),
        ("Team 0 members get the tracker", {"claim_scope": "managed"}, PolicyMode.REVIEW),
        ("Managed people get the chat", {"claim_scope": "managed", "account_type": "atlassian"}, PolicyMode.REVIEW),
        ("Dry look: everyone", {}, PolicyMode.PREVIEW),
    ]
    rules = []
    for index, (name, fields, mode) in enumerate(specs):
        rule = OnboardingRule(organization=organization, name=name, cap_per_run=1_000_000, **fields)
        m2m = {"add_groups": [targets[index % len(targets)]]}
        if index == 1:
            m2m["member_of"] = [big]
        rule = onboarding_rule_save(rule=rule, actor=actor, m2m=m2m)
        # A new rule starts in preview; the bench then sets the mode it measures.
        OnboardingRule.objects.filter(pk=rule.pk).update(mode=mode)
        rules.append(rule)
    return rules


def measure(organization, first_seen: frozenset[int]) -> dict:
    from django.db import connection

    from policies.models import OnboardingItem
    from policies.services.onboarding import onboarding_after_sync

    OnboardingItem.objects.all().delete()
    counter = StatementCounter()
    wall, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(counter):
        done = onboarding_after_sync(organization=organization, first_seen=first_seen, client=None, now=NOW)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "new_accounts": len(first_seen),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "reads": counter.reads,
        "writes": counter.others,
        "rules": done,
        "queued": OnboardingItem.objects.count(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts in the mirror")
    parser.add_argument("--sizes", default="10,1000,10000", help="numbers of new accounts, comma-separated")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    with common.stopwatch() as built:
        common.fresh_database("onboarding", env=DJANGO_ENV)
        mirror = generate_mirror(args.accounts)
    print(f"mirror of {args.accounts:,} accounts written in {built.seconds:.1f} s", flush=True)

    from accounts.models import Account, Organization

    organization = Organization.objects.get(org_id=ORG_ID)
    organization.directories = {"bench-dir": "Bench directory"}
    organization.save(update_fields=["directories"])
    rules = make_rules(organization)
    newest = list(Account.objects.filter(organization=organization).order_by("-pk").values_list("pk", flat=True))
    load_before = os.getloadavg()
    results = [measure(organization, frozenset(newest[:size])) for size in sizes]
    load_after = os.getloadavg()

    print(f"{len(rules)} rules (3 in review mode, 1 in preview) over {args.accounts:,} accounts")
    common.print_table(
        [
            (
                f"{r['new_accounts']:,}",
                f"{r['queued']:,}",
                r["reads"],
                f"{r['reads'] / len(rules):.1f}",
                r["writes"],
                f"{r['wall_seconds']:.2f}",
                f"{r['cpu_seconds']:.2f}",
            )
            for r in results
        ],
        header=("new accounts", "items queued", "reads", "reads per rule", "writes", "wall s", "CPU s"),
    )
    flat = len({r["reads"] for r in results}) == 1
    print(f"reads the same for every number of new accounts: {'yes' if flat else 'NO'}")
    print(f"load average before/after: {load_before} / {load_after}")
    path = common.write_results(
        "onboarding",
        {
            "machine": common.machine_info(),
            "command": " ".join([".venv/bin/python", "bench/bench_onboarding.py", *(argv or sys.argv[1:])]),
            "accounts": args.accounts,
            "mirror": mirror,
            "rules": len(rules),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "runs": results,
            "targets": [
                {"target": "reads flat whatever the number of new accounts", "value": flat, "pass": flat},
            ],
        },
    )
    print(f"results: {path.relative_to(common.ROOT)}")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
