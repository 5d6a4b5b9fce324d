"""Bulk suspensions at Atlassian's pace: N accounts suspended through the real bulk action
(accounts/bulk.py, several at a time: accounts/pool.py) against the simulator in its own process.

    .venv/bin/python bench/bench_pace.py                                   # 10,000 at 300 ms, 1200/min
    .venv/bin/python bench/bench_pace.py --n 300 --rate-limit 0            # no binding limit
    .venv/bin/python bench/bench_pace.py --n 600 --rate-limit 1200         # a quicker look

Each suspension needs the re-check right before acting, the suspension and the read-back
(DESIGN.md 5.10), all counted by the rate limit. The re-checks are read ahead a hundred accounts
at a time (one search by email: accounts/services/read_ahead.py) and the read-backs of the
workers go out ten to a search (governance/atlassian/client/read_batcher.py), so a suspension
costs a little more than one call. The floor judged is the issue's: one call per suspension,
N / limit per minute. The floor of the calls actually sent (calls / limit) is printed beside it.
Checks, after the run: each account suspended in the mirror with exactly one ``account.suspended``
event (0 duplicates, 0 lost), and the audit chain verifies. Results: ``bench/results/pace.json``.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

ORG_ID = "bench-org"
API_KEY = "bench-pace-key-3e8a1d"
DJANGO_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "AUDIT_HMAC_KEY": "bench-key",
    "ATLASSIAN_ADMIN_API_KEY": API_KEY,
    "LOG_LEVEL": "WARNING",
}
TARGET_RATIO = 1.2
TARGET_UNBOUND_SECONDS = 0.1


def start_simulator(users: int, latency_ms: int, rate_limit: int) -> tuple[subprocess.Popen, str]:
    # The sync that builds the mirror meets the latency and the limit too (a few hundred pages):
    # restarting the simulator in between would generate the activity again around a new "now".
    args = [
        sys.executable,
        "manage.py",
        "atlassian_simulator",
        *("--port", "0", "--users", str(users), "--groups", "40", "--seed", "3"),
        *("--org-id", ORG_ID, "--api-key", API_KEY),
        *("--latency-ms", str(latency_ms), "--rate-limit", str(rate_limit)),
    ]
    proc = subprocess.Popen(args, cwd=common.ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().startswith("http://"):
            return proc, line.strip()
    raise SystemExit("the simulator did not start")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="accounts to suspend (default 10,000)")
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--rate-limit", type=int, default=1200, help="requests per minute (0: none binding)")
    parser.add_argument("--concurrency", type=int, default=None, help="ATLASSIAN_CONCURRENCY (default: the setting)")
    args = parser.parse_args(argv)
    if args.concurrency:
        os.environ["ATLASSIAN_CONCURRENCY"] = str(args.concurrency)
    db = common.fresh_database("pace", env=DJANGO_ENV)
    print(f"fresh database {db}", flush=True)
    # Generous: suspensions only go to active, non-admin Atlassian accounts.
    users = int(args.n * 1.6) + 200
    proc, base_url = start_simulator(users, args.latency_ms, args.rate_limit)
    try:
        return run(args, base_url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run(args, base_url: str) -> int:
    from django.conf import settings

    from accounts.bulk import Outcome, accounts_bulk_apply
    from accounts.clients import client_for
    from accounts.models import Account, AccountStatus, Organization
    from accounts.sync.runner import organization_sync
    from governance.audit.models import AuditAction, AuditEvent
    from governance.audit.record import Actor
    from governance.audit.verify import verify_chain

    organization = Organization.objects.create(
        org_id=ORG_ID, name="Bench org", api_base=base_url, credentials_from_env=True
    )
    with client_for(organization) as client:
        assert organization_sync(organization=organization, client=client).ok
    ids = list(
        Account.objects.filter(
            organization=organization, status=AccountStatus.ACTIVE, is_org_admin=False, account_type="atlassian"
        )
        .order_by("pk")
        .values_list("pk", flat=True)[: args.n]
    )
    if len(ids) < args.n:
        raise SystemExit(f"only {len(ids)} active accounts to suspend")
    stats = {}

    def factory(org):
        client = client_for(org)
        stats["client"] = client
        return client

    load_before = os.getloadavg()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    outcome = accounts_bulk_apply(
        action="suspend",
        account_ids=ids,
        params={"reason": "bench"},
        actor=Actor.system("bench"),
        client_factory=factory,
    )
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    load_after = os.getloadavg()
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    calls = stats["client"].stats.requests
    events = AuditEvent.objects.filter(action=AuditAction.ACCOUNT_SUSPENDED, correlation_id=outcome.correlation_id)
    per_account: dict[str, int] = {}
    for target in events.values_list("target_id", flat=True):
        per_account[target] = per_account.get(target, 0) + 1
    duplicates = sum(n - 1 for n in per_account.values() if n > 1)
    suspended = Account.objects.filter(pk__in=ids, status=AccountStatus.SUSPENDED).count()
    lost = args.n - min(suspended, len(per_account))
    chain = verify_chain()
    result = {
        "n": args.n,
        "latency_ms": args.latency_ms,
        "rate_limit_per_minute": args.rate_limit,
        "concurrency": settings.ATLASSIAN_CONCURRENCY,
        "done": outcome.counts[Outcome.DONE],
        "counts": outcome.count_dict(),
        "calls": calls,
        "calls_per_account": round(calls / args.n, 2),
        "status_counts": stats["client"].stats.by_status,
        "wall_seconds": round(wall, 1),
        "seconds_per_account": round(wall / args.n, 4),
        "cpu_seconds": round(cpu, 1),
        "cpu_over_wall": round(cpu / wall, 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "duplicates": duplicates,
        "lost": lost,
        "chain_verified": chain.ok,
        "machine": common.machine_info(),
    }
    rows = [("accounts", f"{args.n:,}"), ("calls sent", f"{calls:,} ({calls / args.n:.2f} per account)")]
    if args.rate_limit:
        floor = calls / args.rate_limit * 60
        issue_floor = args.n / args.rate_limit * 60
        result.update(floor_seconds=round(issue_floor, 1), calls_floor_seconds=round(floor, 1))
        result["ratio"] = round(wall / issue_floor, 3)
        result["ratio_to_calls_floor"] = round(wall / floor, 3)
        result["target"] = common.check_target("wall / (N / limit)", result["ratio"], below=TARGET_RATIO)
        rows += [
            ("floor (N / limit: one call a suspension)", f"{issue_floor:.1f} s"),
            ("floor of the calls sent (calls / limit)", f"{floor:.1f} s"),
            ("figure (wall)", f"{wall:.1f} s"),
            ("ratio to floor", f"{wall / issue_floor:.3f} (target <= {TARGET_RATIO})"),
            ("ratio to the calls' floor", f"{wall / floor:.3f}"),
        ]
    else:
        result["target"] = common.check_target("seconds per account", wall / args.n, below=TARGET_UNBOUND_SECONDS)
        rows += [
            ("serial floor (calls x latency)", f"{calls * args.latency_ms / 1000 / args.n:.3f} s per account"),
            # The simulator adds up to 50 % jitter to each call: 1.25 x the latency on average.
            ("serial floor at the mean latency", f"{calls * args.latency_ms * 1.25 / 1000 / args.n:.3f} s per account"),
            (
                "pool's floor (mean serial / workers)",
                f"{calls * args.latency_ms * 1.25 / 1000 / args.n / settings.ATLASSIAN_CONCURRENCY:.3f} s per account",
            ),
            ("figure", f"{wall:.1f} s, {wall / args.n:.3f} s per account (target <= {TARGET_UNBOUND_SECONDS})"),
        ]
    rows += [
        ("CPU / wall", f"{cpu:.1f} s / {wall:.1f} s = {cpu / wall:.2f}"),
        ("load average before / after", f"{load_before[0]:.2f} / {load_after[0]:.2f}"),
        ("duplicates / lost", f"{duplicates} / {lost}"),
        ("audit chain", "verified" if chain.ok else f"BROKEN at {chain.first_bad_seq}"),
        ("statuses", str(stats["client"].stats.by_status)),
    ]
    common.print_table(rows)
    name = "pace" if args.rate_limit else "pace_unbound"
    print(f"results: {common.write_results(name, result)}")
    return 0 if duplicates == 0 and lost == 0 and chain.ok else 1


if __name__ == "__main__":
    sys.exit(main())
