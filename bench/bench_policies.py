"""Policy run benchmark: N accounts, 5 policies, every policy run as a dry run (preview mode).

    .venv/bin/python bench/bench_policies.py                      # 10,000 and 100,000 accounts
    .venv/bin/python bench/bench_policies.py --sizes 10000        # quicker
    .venv/bin/python bench/bench_policies.py --run-only           # reuse the databases, run again

For each size N:

1. A child process builds a fresh SQLite database ``var/bench/policies_<N>.sqlite3`` (deleted,
   then migrated) with ``bulk_create``: one organization synced an hour ago, four products, 200
   groups (four licence groups), N accounts with a realistic activity spread, about two
   ProductAccess rows and ten memberships per account, a few exemptions (account, group, email
   pattern, one expired, one for a single policy), five policies, and open warnings left by an
   earlier run of the Jira policy.
2. Another child process (DEBUG off, as the scheduler runs) loads the enabled policies as
   ``enforce_policies`` does and calls ``policy_run(policy=..., now=..., dry_run=True)`` for each.
   Every SQL statement is counted with ``connection.execute_wrapper``; the wall time covers the
   policies query and the five runs; peak RSS is the child's VmHWM.
3. A results table, PASS/FAIL per target (never asserted), and ``bench/results/policies.json``.
"""

import argparse
import cProfile
import gc
import hashlib
import io
import json
import os
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DJANGO_ENV = {
    # Production settings (DEBUG off): connection.queries keeps nothing, as in the scheduler.
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
    "AUDIT_HMAC_KEY": "bench-key",
    "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    "LOG_LEVEL": "WARNING",
}
DEFAULT_SIZES = (10_000, 100_000)
TARGET_SECONDS = 5.0
TARGET_QUERIES = 50
NOW = datetime(2026, 3, 2, 6, 30, tzinfo=UTC)  # the runs' ``now``; the last complete sync was an hour before
ORG_ID = "bench-org"
BATCH = 5000
_TRANSACTION_VERBS = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")

_FIRST = ["Ann", "Bob", "Carla", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Priya"]
_LAST = ["Smith", "Mueller", "Rossi", "Novak", "Tanaka", "Okafor", "Garcia", "Dubois", "Nguyen", "Oneil"]
_EXTERNAL_DOMAINS = ["partner.example", "contractor.example", "gmail.com"]
_APPS = ["Automation for Jira", "Slack", "GitHub for Jira", "Tempo", "Zephyr"]
# key, name, share of (non-app) accounts holding it, licence group
PRODUCTS = [
    ("jira-software", "Jira Software", 0.85, "jira-software-users"),
    ("confluence", "Confluence", 0.70, "confluence-users"),
    ("jira-servicedesk", "Jira Service Management", 0.30, "jira-servicedesk-agents"),
    ("bitbucket", "Bitbucket", 0.15, "bitbucket-users"),
]
SPECIAL_GROUPS = ["contractors", "executives", "site-admins", "service-accounts"]
N_GROUPS = 200
# Days since last activity: (weight %, low, high); None = never active.
ACTIVITY = [(70, 0, 30), (15, 30, 180), (8, 180, 730), (5, None, None), (2, 730, 1500)]
# Account status: (weight %, status)
STATUSES = [(92.5, "active"), (4.0, "suspended"), (3.0, "deactivated"), (0.5, "removed")]


def db_name(size: int) -> str:
    return f"policies_{size}"


# --- Building the organization (child process) ---------------------------------------------


def _ago(rng: random.Random, low: float, high: float) -> datetime:
    return NOW - timedelta(seconds=rng.uniform(low * 86400, high * 86400))


def build(size: int, seed: int) -> dict:
    """Fresh database for ``size`` accounts; returns row counts and timings."""
    with common.stopwatch() as mig:
        db = common.fresh_database(db_name(size), env=DJANGO_ENV)

    from django.db import transaction

    from accounts.models import (
        Account,
        Group,
        GroupProductGrant,
        Membership,
        Organization,
        Product,
        ProductAccess,
    )
    from policies.models import Enforcement, Exemption, ExemptionKind, InactivityPolicy, PolicyMode

    rng = random.Random(seed)
    start = time.perf_counter()
    # Synced completely an hour before the runs' ``now``: fresh (POLICY_MAX_SYNC_AGE is 26 h by default).
    org = Organization.objects.create(
        org_id=ORG_ID,
        name="Acme (bench)",
        site_url="https://acme.atlassian.net",
        last_complete_sync_at=NOW - timedelta(hours=1),
    )
    products = {
        key: Product.objects.create(
            organization=org, key=key, name=name, resource_id=f"ari:cloud:{key}::site/acme-bench", seats_total=size
        )
        for key, name, _, _ in PRODUCTS
    }

    licence_names = [g for _, _, _, g in PRODUCTS]
    team_names = [
        f"team-{dept}-{n}"
        for n in range(1, 100)
        for dept in ("eng", "sales", "ops", "finance", "hr", "legal", "design", "support")
    ][: N_GROUPS - len(licence_names) - len(SPECIAL_GROUPS)]
    group_rows = [
        Group(
            id=i,
            organization=org,
            group_id=f"ari:cloud:identity::group/{rng.getrandbits(64):016x}",
            name=name,
            is_licence_group=name in licence_names,
            external_synced=name.startswith("team-eng") or name == "executives",
        )
        for i, name in enumerate([*licence_names, *SPECIAL_GROUPS, *team_names], start=1)
    ]
    Group.objects.bulk_create(group_rows)
    groups = {g.name: g.pk for g in group_rows}
    team_pks = [groups[n] for n in team_names]
    GroupProductGrant.objects.bulk_create(
        GroupProductGrant(group_id=groups[lg], product=products[key], roles=["user"]) for key, _, _, lg in PRODUCTS
    )

    act_weights = [w for w, _, _ in ACTIVITY]
    status_weights = [w for w, _ in STATUSES]
    product_pks = {key: products[key].pk for key, _, _, _ in PRODUCTS}
    counts = Counter()
    accounts, access, memberships = [], [], []
    member_count = Counter()
    candidates_for_warnings = []

    def flush() -> None:
        """Accounts first: the other two rows point at them (foreign keys are checked at commit)."""
        nonlocal accounts, access, memberships
        with transaction.atomic():
            for model, rows in ((Account, accounts), (ProductAccess, access), (Membership, memberships)):
                if rows:
                    model.objects.bulk_create(rows, batch_size=BATCH)
        accounts, access, memberships = [], [], []

    for pk in range(1, size + 1):
        roll = rng.random()
        account_type = "app" if roll < 0.003 else "customer" if roll < 0.005 else "atlassian"
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        is_app = account_type == "app"
        managed = not is_app and rng.random() < 0.85
        if is_app:
            name, email = f"{rng.choice(_APPS)} ({pk})", None
        elif rng.random() < 0.02:
            name, email = f"{first} {last}", None  # hidden by the person
        elif managed:
            domain = "board.acme.example" if rng.random() < 0.002 else "acme.example"
            name, email = f"{first} {last}", f"{first.lower()}.{last.lower()}{pk}@{domain}"
        else:
            name, email = f"{first} {last}", f"{first.lower()}{pk}@{rng.choice(_EXTERNAL_DOMAINS)}"
        status = rng.choices(STATUSES, status_weights)[0][1]
        _, low, high = rng.choices(ACTIVITY, act_weights)[0]
        last_active = None if low is None else _ago(rng, low, high)
        if last_active is None:
            added = _ago(rng, 0, 400)  # some joined less than 30 days ago
        else:
            added = last_active - timedelta(seconds=rng.uniform(0, 1200 * 86400))
        status_changed = added if status == "active" else _ago(rng, 0, 240)
        restored = _ago(rng, 0, 60) if rng.random() < 0.005 else None
        is_admin = not is_app and managed and rng.random() < 0.012
        counts[f"status:{status}"] += 1
        counts[f"type:{account_type}"] += 1
        counts["never_active"] += last_active is None
        counts["org_admins"] += is_admin
        counts["managed"] += managed

        held = [] if account_type != "atlassian" else [p for p in PRODUCTS if rng.random() < p[2]]
        if last_active is not None and held:
            primary = rng.choice(held)[0]
        for key, _, _, licence_group in held:
            if last_active is None:
                when = None
            elif key == primary:
                when = last_active
            else:
                r = rng.random()
                when = (
                    last_active - timedelta(seconds=rng.uniform(0, 60 * 86400))
                    if r < 0.6
                    else last_active - timedelta(seconds=rng.uniform(60 * 86400, 400 * 86400))
                    if r < 0.85
                    else None
                )
            access.append(ProductAccess(account_id=pk, product_id=product_pks[key], last_active=when, granted="group"))
            memberships.append(Membership(account_id=pk, group_id=groups[licence_group]))
            member_count[groups[licence_group]] += 1
        extra = rng.sample(team_pks, rng.randint(5, 11)) if account_type == "atlassian" else []
        if account_type == "atlassian" and not managed:
            extra.append(groups["contractors"])
        if is_admin:
            extra.append(groups["site-admins"])
        if is_app:
            extra.append(groups["service-accounts"])
        if account_type == "atlassian" and rng.random() < 0.005:
            extra.append(groups["executives"])
        for group_pk in extra:
            memberships.append(Membership(account_id=pk, group_id=group_pk))
            member_count[group_pk] += 1
        accounts.append(
            Account(
                id=pk,
                organization=org,
                account_id=f"712020:{rng.getrandbits(128):032x}" if pk % 3 else f"{rng.getrandbits(96):024x}",
                email=email,
                name=name,
                account_type=account_type,
                status=status,
                status_changed_at=status_changed,
                managed=managed,
                is_org_admin=is_admin,
                management_source="verified_domain" if managed else "",
                added_to_org=added,
                last_active=last_active,
                billable=bool(held) and status == "active",
                licence_group_count=len(held),
                restored_at=restored,
                last_synced_at=NOW - timedelta(hours=1),
            )
        )
        if status == "active" and "jira-software" in [h[0] for h in held] and rng.random() < 0.01:
            candidates_for_warnings.append(pk)
        if len(memberships) >= BATCH or len(access) >= BATCH or len(accounts) >= BATCH:
            flush()
        if pk % max(size // 5, 1) == 0:
            print(f"  built {pk:>9,} accounts  {time.perf_counter() - start:6.1f} s", flush=True)
    flush()
    for group_pk, n in member_count.items():
        Group.objects.filter(pk=group_pk).update(member_count=n)

    # Five policies (modes vary: a dry run previews whatever the mode).
    def policy(name, *, products_=(), include=(), exclude=(), **fields):
        p = InactivityPolicy.objects.create(organization=org, name=name, cap_absolute=100, cap_percent=2.0, **fields)
        p.products.set([products[k] for k in products_])
        p.include_groups.set([groups[g] for g in include])
        p.exclude_groups.set([groups[g] for g in exclude])
        return p

    jira = policy(
        "Jira inactive 90 days",
        products_=["jira-software"],
        exclude=["service-accounts"],
        trigger="inactive",
        trigger_days=90,
        action="suspend",
        warning_days=[14, 3],
        mode=PolicyMode.ENFORCE,
    )
    policy(
        "Confluence inactive 60 days",
        products_=["confluence"],
        trigger="inactive",
        trigger_days=60,
        action="remove_product_access",
        warning_days=[7],
        mode=PolicyMode.REVIEW,
    )
    policy(
        "Never active 30 days after joining",
        trigger="never_active",
        trigger_days=30,
        action="suspend",
        warning_days=[3],
        mode=PolicyMode.PREVIEW,
    )
    delete = policy(
        "Deactivated 60 days: delete",
        trigger="in_state",
        trigger_state="deactivated",
        trigger_days=60,
        action="delete",
        claim_scope="managed",
        mode=PolicyMode.REVIEW,
    )
    policy(
        "Contractors inactive 45 days (Jira)",
        products_=["jira-software", "jira-servicedesk"],
        include=["contractors"],
        exclude=["executives"],
        claim_scope="external",
        trigger="inactive",
        trigger_days=45,
        action="suspend",
        warning_days=[7, 1],
        mode=PolicyMode.ENFORCE,
    )

    exempt_accounts = rng.sample(range(1, size + 1), 8)
    Exemption.objects.bulk_create(
        [
            *(
                Exemption(organization=org, account_id=pk, reason="On parental leave until September")
                for pk in exempt_accounts[:4]
            ),
            Exemption(
                organization=org,
                account_id=exempt_accounts[4],
                reason="Sabbatical",
                expires_at=NOW + timedelta(days=40),
            ),
            Exemption(
                organization=org,
                account_id=exempt_accounts[5],
                reason="Expired: long-term sick leave",
                expires_at=NOW - timedelta(days=3),
            ),
            Exemption(organization=org, account_id=exempt_accounts[6], policy=jira, reason="Jira audit reviewer"),
            Exemption(organization=org, group_id=groups["executives"], reason="Executives are handled by hand"),
            Exemption(organization=org, email_pattern="*@board.acme.example", reason="Board members"),
            Exemption(
                organization=org,
                kind=ExemptionKind.NEVER_RESTORE,
                account_id=exempt_accounts[7],
                reason="Left the company: never restore",
            ),
            Exemption(
                organization=org,
                policy=delete,
                email_pattern="*@acme.example",
                reason="Legal hold",
                expires_at=NOW - timedelta(days=1),
            ),
        ]
    )

    # Open warnings from yesterday's run of the Jira policy (some of these people came back since).
    warned = candidates_for_warnings
    Enforcement.objects.bulk_create(
        [
            Enforcement(
                policy=jira,
                account_id=pk,
                status="warned",
                action="suspend",
                reason="last active in Jira Software on ... (90 days)",
                due_at=NOW + timedelta(days=rng.randint(1, 14)),
                # Warned 1 to 20 days ago: those warned over 14 days ago are due now (the lead time is 14 days).
                warned_at=NOW - timedelta(days=rng.randint(1, 20)),
                warnings_sent=[14],
            )
            for pk in warned
        ],
        batch_size=BATCH,
    )
    build_s = time.perf_counter() - start
    common.sqlite_checkpoint()
    totals = {
        "accounts": Account.objects.count(),
        "product_access": ProductAccess.objects.count(),
        "memberships": Membership.objects.count(),
        "groups": Group.objects.count(),
        "products": Product.objects.count(),
        "exemptions": Exemption.objects.count(),
        "open_enforcements": Enforcement.objects.count(),
        "policies": InactivityPolicy.objects.count(),
    }
    return {
        "size": size,
        "seed": seed,
        "database": str(db),
        "migrate_seconds": mig.seconds,
        "build_seconds": build_s,
        "database_size_mb": common.file_size_mb(db),
        "rows": totals,
        "mix": dict(sorted(counts.items())),
        "peak_rss_mb": common.peak_rss_mb(),
    }


# --- The dry runs (child process) ----------------------------------------------------------


class QueryCounter:
    """``connection.execute_wrapper``: every statement, by verb, by section, and the tables written."""

    _WRITE = re.compile(r'^(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"(\w+)"', re.I)
    # Statements every run makes whatever the policy: transaction control, the lock lease, the
    # run record and the audit event (governance.runs and governance.audit). The rest is the
    # selection and the decisions (policies.selectors.snapshots, via policies.services.runs.evaluate).
    _BOOKKEEPING = re.compile(
        r'^(?:BEGIN|SAVEPOINT|RELEASE|ROLLBACK)\b|"governance_(?:runlock|taskrun|auditevent)"', re.I
    )

    def __init__(self):
        self.total = 0
        self.bookkeeping = 0
        self.by_verb: Counter = Counter()
        self.writes: Counter = Counter()
        self.section = ""
        self.by_section: Counter = Counter()
        self.statements: dict[str, list[str]] = {}

    def __call__(self, execute, sql, params, many, context):
        text = sql.lstrip()
        self.total += 1
        self.bookkeeping += bool(self._BOOKKEEPING.search(text))
        self.by_verb[text.split(None, 1)[0].upper()] += 1
        write = self._WRITE.match(text)
        if write:
            self.writes[write.group(1)] += 1
        self.by_section[self.section] += 1
        self.statements.setdefault(self.section, []).append(re.sub(r"\s+", " ", text)[:160])
        return execute(sql, params, many, context)


def decisions_digest(decisions) -> str:
    """A fingerprint of every decision (account, verdict, reason, dates): equal digests, equal behaviour."""
    h = hashlib.sha256()
    for d in sorted(decisions, key=lambda d: (d.account_pk, d.verdict)):
        due = d.due_at.isoformat() if d.due_at else ""
        since = d.inactive_since.isoformat() if d.inactive_since else ""
        h.update(f"{d.account_pk}|{d.verdict}|{d.reason}|{due}|{since}|{d.days_inactive}|{d.product}\n".encode())
    return h.hexdigest()[:16]


def _state():
    """What a dry run must not change: enforcement rows, and how many run records and events exist."""
    from django.db.models import Count, Max

    from governance.audit.models import AuditEvent
    from governance.runs.models import TaskRun
    from policies.models import Enforcement

    enforcement = Enforcement.objects.aggregate(n=Count("pk"), updated=Max("updated_at"))
    return {
        "enforcements": enforcement["n"],
        "enforcements_updated": str(enforcement["updated"]),
        "enforcements_by_status": dict(
            Enforcement.objects.values_list("status").annotate(n=Count("pk")).order_by("status")
        ),
        "task_runs": TaskRun.objects.count(),
        "audit_events": AuditEvent.objects.count(),
        "audit_actions_last": list(AuditEvent.objects.order_by("-seq").values_list("action", flat=True)[:10]),
    }


def run_all(counter: QueryCounter, *, label: str, shared: bool = True) -> dict:
    """enforce_policies --dry-run, measured: the policies query, then policy_run(dry_run=True) for
    each, on accounts read once for all five (``shared``) or by each run alone."""
    from django.db import connection

    from governance.audit.record import Actor
    from governance.runs.models import RunTrigger
    from policies.models import InactivityPolicy
    from policies.selectors.snapshots import shared_account_data
    from policies.services.runs import policy_run

    actor = Actor.system("bench_policies")
    per_policy = []
    start_total, start_bookkeeping, start_verbs = counter.total, counter.bookkeeping, Counter(counter.by_verb)
    # Timed: the policies query and each policy_run() call. Not timed: the bench's own bookkeeping
    # between runs (verdict counts and the decisions digest), done before the next run starts so
    # that only one run's decisions are alive at a time, as in ``enforce_policies``.
    with connection.execute_wrapper(counter):
        counter.section = f"{label}:load"
        with common.stopwatch() as load:
            policies = list(InactivityPolicy.objects.filter(enabled=True).select_related("organization").order_by("pk"))
            cpu_load = time.process_time()
            data = shared_account_data(policies, NOW) if shared else {}
            cpu_load = time.process_time() - cpu_load
        for policy in policies:
            counter.section = f"{label}:{policy.pk}"
            before, before_bookkeeping = counter.total, counter.bookkeeping
            cpu = time.process_time()
            with common.stopwatch() as one:
                result = policy_run(
                    policy=policy,
                    now=NOW,
                    trigger=RunTrigger.MANUAL,
                    actor=actor,
                    dry_run=True,
                    shared=data.get(policy.organization_id),
                )
            queries = counter.total - before
            decisions = result.evaluation.decisions if result.evaluation else []
            per_policy.append(
                {
                    "policy": policy.name,
                    "trigger": policy.trigger,
                    "action": policy.action,
                    "mode": policy.mode,
                    "status": result.status,
                    "seconds": one.seconds,
                    "cpu_seconds": time.process_time() - cpu,
                    "queries": queries,
                    "selection_queries": queries - (counter.bookkeeping - before_bookkeeping),
                    "counts": result.counts,
                    "decisions": len(decisions),
                    "verdicts": dict(Counter(str(d.verdict) for d in decisions)),
                    "digest": decisions_digest(decisions),
                }
            )
            del result, decisions
    counter.section = ""
    queries = counter.total - start_total
    bookkeeping = counter.bookkeeping - start_bookkeeping
    return {
        "seconds": load.seconds + sum(p["seconds"] for p in per_policy),
        "cpu_seconds": cpu_load + sum(p["cpu_seconds"] for p in per_policy),
        "shared": shared,
        "load_policies_seconds": load.seconds,
        "queries": queries,
        "bookkeeping_queries": bookkeeping,
        "selection_queries": queries - bookkeeping,
        "queries_by_verb": dict(counter.by_verb - start_verbs),
        "policies": per_policy,
    }


def run_child(size: int, result_file: Path, *, repeat: int, profile: bool) -> None:
    common.configure(db_name(size), env=DJANGO_ENV)
    common.setup_django()
    from django.conf import settings
    from django.core import mail
    from django.db import connection

    result: dict = {"size": size, "debug": settings.DEBUG, "load_average_before": os.getloadavg()}
    connection.ensure_connection()  # a worker's connection is open already: not part of the figures
    before = _state()
    gc.collect()
    result["startup_peak_mb"] = common.peak_rss_mb()
    result["rss_before_mb"] = common.rss_mb()
    result["peak_reset"] = common.reset_peak_rss()
    counter = QueryCounter()
    profiler = cProfile.Profile() if profile else None
    # The first run meets a fresh database (each policy's lease row is created, every statement is
    # new to the connection): reported, not judged. Then ``repeat`` rounds, each the five policies
    # on shared data followed by the floor, each policy run alone reading the accounts for itself,
    # so that both sides of the ratio are measured alike and side by side (as the scheduler runs
    # them every hour, in a worker that has run them before).
    runs, alones = [], []
    for n in range(repeat + 1):
        if profiler and n == 0:
            profiler.enable()
        runs.append(run_all(counter, label=f"run{n + 1}"))
        if profiler and n == 0:
            profiler.disable()
        gc.collect()
        if n:
            alones.append(run_all(counter, label=f"alone{n}", shared=False))
            gc.collect()
    result["runs"], result["alones"] = runs, alones
    result["load_average_after"] = os.getloadavg()  # 1, 5, 15 min: other processes inflate wall times
    result["run_peak_mb"] = common.peak_rss_mb()
    result["peak_rss_mb"] = max(result["startup_peak_mb"], result["run_peak_mb"])
    result["rss_after_mb"] = common.rss_mb()
    result["queries_by_verb"] = dict(counter.by_verb)
    result["tables_written"] = dict(counter.writes)
    result["statements_first_run"] = {k: v for k, v in counter.statements.items() if k.startswith("run1:")}
    result["emails_sent"] = len(getattr(mail, "outbox", []))
    after = _state()
    result["state_before"], result["state_after"] = before, after
    if profiler:
        texts = {}
        for key, n in (("tottime", 25), ("cumulative", 40)):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(n)
            texts[key] = out.getvalue()
        result["profile"] = texts
    result_file.write_text(json.dumps(result, default=str))


def run_build_child(size: int, seed: int, result_file: Path) -> None:
    result_file.write_text(json.dumps(build(size, seed), default=str))


def in_child(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        with common.stopwatch() as wall:
            proc = common.run_python(["-m", "bench.bench_policies", *args, "--result-file", str(result_file)])
        if proc.returncode != 0 or not result_file.exists():
            raise SystemExit(f"the child {args} failed (exit {proc.returncode})")
        result = json.loads(result_file.read_text())
    result["process_wall_seconds"] = wall.seconds
    return result


# --- Checks and report ---------------------------------------------------------------------


def costliest_alone(run: dict, n: int = -1) -> dict:
    """The costliest policy (CPU time) of round ``n``'s floor, the last round's by default."""
    return max(run["alones"][n]["policies"], key=lambda p: p["cpu_seconds"])


def round_ratios(run: dict) -> list[float]:
    """Each round's CPU time of the five runs on shared data over its costliest policy run alone."""
    return [shared["cpu_seconds"] / costliest_alone(run, n)["cpu_seconds"] for n, shared in enumerate(run["runs"][1:])]


def shared_ratio(run: dict) -> float:
    """The judged ratio: the median of the rounds' (warm against warm, side by side)."""
    return statistics.median(round_ratios(run))


def first_run_ratio(run: dict) -> float:
    """The first run (fresh database) over the first round's floor: reported, not judged."""
    return run["runs"][0]["cpu_seconds"] / costliest_alone(run, 0)["cpu_seconds"]


def verify(run: dict, repeat: int) -> dict:
    """A dry run writes nothing but its run records, audit events and lock leases; all succeed."""
    from_tables = set(run["tables_written"])
    before, after = run["state_before"], run["state_after"]
    n_runs = sum(len(r["policies"]) for r in (*run["runs"], *run["alones"]))
    first = run["runs"][0]["policies"]
    checks = {
        "debug_off": run["debug"] is False,
        "five_policies": len(first) == 5,
        "all_succeeded": all(p["status"] == "succeeded" for r in run["runs"] for p in r["policies"]),
        "every_policy_decides": all(p["decisions"] > 0 for p in first),
        "enforcements_untouched": (
            before["enforcements"],
            before["enforcements_updated"],
            before["enforcements_by_status"],
        )
        == (after["enforcements"], after["enforcements_updated"], after["enforcements_by_status"]),
        "one_run_record_each": after["task_runs"] - before["task_runs"] == n_runs,
        "one_audit_event_each": after["audit_events"] - before["audit_events"] == n_runs
        and all(a == "policy.run_completed" for a in after["audit_actions_last"][:n_runs]),
        "writes_only_runs_audit_locks": from_tables
        <= {"governance_taskrun", "governance_auditevent", "governance_runlock"},
        "no_email": run["emails_sent"] == 0,
        "repeat_same_decisions": all(
            [p["digest"] for p in r["policies"]] == [p["digest"] for p in first] for r in run["runs"]
        ),
        "shared_same_decisions_as_alone": all(
            [p["digest"] for p in alone["policies"]] == [p["digest"] for p in first] for alone in run["alones"]
        ),
    }
    checks["all"] = all(checks.values())
    return checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="accounts, comma-separated (default 10000,100000)",
    )
    parser.add_argument("--seed", type=int, default=20260302, help="data generator seed")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds per size after the first run: the five policies shared, then each alone (median judged)",
    )
    parser.add_argument("--run-only", action="store_true", help="keep the existing databases; only run the policies")
    profiling = parser.add_mutually_exclusive_group()
    profiling.add_argument("--profile", action="store_true", help="always run a profiled child for the largest size")
    profiling.add_argument("--no-profile", action="store_true", help="never profile, even below target")
    parser.add_argument("--child", choices=["build", "run"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child == "build":
        run_build_child(args.size, args.seed, args.result_file)
        return 0
    if args.child == "run":
        run_child(args.size, args.result_file, repeat=args.repeat, profile=args.profile)
        return 0

    sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    per_size = {}
    for size in sizes:
        built = None
        if args.run_only:
            if not common.sqlite_path(db_name(size)).exists():
                raise SystemExit(f"{common.sqlite_path(db_name(size))} does not exist: run without --run-only first")
        else:
            print(f"building {size:,} accounts in var/bench/{db_name(size)}.sqlite3", flush=True)
            built = in_child(["--child", "build", "--size", str(size), "--seed", str(args.seed)])
            print(
                f"  built in {built['build_seconds']:.1f} s: "
                + ", ".join(f"{v:,} {k}" for k, v in built["rows"].items()),
                flush=True,
            )
        print(f"running the 5 policies as dry runs ({args.repeat}x) on {size:,} accounts", flush=True)
        run = in_child(["--child", "run", "--size", str(size), "--repeat", str(args.repeat)])
        per_size[size] = {"build": built, "run": run}

    checks = {size: verify(data["run"], args.repeat) for size, data in per_size.items()}
    targets = []
    for size, data in per_size.items():
        first = data["run"]["runs"][0]
        targets.append(common.check_target(f"{size:,} accounts: seconds", first["seconds"], below=TARGET_SECONDS))
        targets.append(common.check_target(f"{size:,} accounts: queries", first["queries"], below=TARGET_QUERIES))
        targets.append(
            common.check_target(
                f"{size:,} accounts: 5 shared / costliest alone (CPU)", shared_ratio(data["run"]), below=1.5
            )
        )
    query_counts = {size: data["run"]["runs"][0]["queries"] for size, data in per_size.items()}
    if len(query_counts) > 1:
        same = len(set(query_counts.values())) == 1
        targets.append(
            {
                "target": "queries the same at every size",
                "value": query_counts,
                "rule": "equal",
                "pass": same,
            }
        )

    profile = None
    largest = max(sizes)
    slow = not all(t["pass"] for t in targets if t["target"].endswith("seconds"))
    if args.profile or (slow and not args.no_profile):
        print(f"profiling one dry run of the 5 policies on {largest:,} accounts (cProfile)", flush=True)
        profiled = in_child(["--child", "run", "--size", str(largest), "--repeat", "1", "--profile"])
        profile = {
            "size": largest,
            "seconds_under_profiler": profiled["runs"][0]["seconds"],
            "top25_tottime": profiled["profile"]["tottime"],
            "top40_cumulative": profiled["profile"]["cumulative"],
        }

    print()
    header = ("figure", *(f"{s:,} accounts" for s in sizes))
    rows = []

    def row(label, fn):
        rows.append((label, *(fn(per_size[s]) for s in sizes)))

    if all(per_size[s]["build"] for s in sizes):
        row("product access rows", lambda d: f"{d['build']['rows']['product_access']:,}")
        row("memberships", lambda d: f"{d['build']['rows']['memberships']:,}")
        row("open enforcements (warned)", lambda d: f"{d['build']['rows']['open_enforcements']:,}")
        row("build time", lambda d: f"{d['build']['build_seconds']:.1f} s")
        row("database size", lambda d: f"{d['build']['database_size_mb']:,.0f} MB")
    row("first dry run of 5 policies (fresh database): wall", lambda d: f"{d['run']['runs'][0]['seconds']:.2f} s")
    row("first dry run of 5 policies: CPU", lambda d: f"{d['run']['runs'][0]['cpu_seconds']:.2f} s")
    row("first dry run of 5 policies: SQL statements", lambda d: f"{d['run']['runs'][0]['queries']}")
    row("  selection and decisions", lambda d: f"{d['run']['runs'][0]['selection_queries']}")
    row("  lock, run record, audit, BEGIN/SAVEPOINT", lambda d: f"{d['run']['runs'][0]['bookkeeping_queries']}")
    row(
        "  of all: BEGIN, SAVEPOINT, RELEASE",
        lambda d: str(sum(n for v, n in d["run"]["runs"][0]["queries_by_verb"].items() if v in _TRANSACTION_VERBS)),
    )
    row(
        "floor: costliest policy alone, CPU (last round)",
        lambda d: "{cpu_seconds:.2f} s ({policy})".format(**costliest_alone(d["run"])),
    )
    row(
        "five shared / costliest alone (CPU), median of rounds",
        lambda d: f"{shared_ratio(d['run']):.2f} (" + ", ".join(f"{r:.2f}" for r in round_ratios(d["run"])) + ")",
    )
    row("  first run (fresh database) / first floor", lambda d: f"{first_run_ratio(d['run']):.2f}")
    row(
        "five policies each alone: wall (CPU), last round",
        lambda d: "{seconds:.2f} s ({cpu_seconds:.2f} s)".format(**d["run"]["alones"][-1]),
    )
    row(
        "  CPU time / wall, five shared",
        lambda d: f"{d['run']['runs'][0]['cpu_seconds'] / d['run']['runs'][0]['seconds']:.0%}",
    )
    row("load average (1 min) before the runs", lambda d: f"{d['run']['load_average_before'][0]:.1f}")
    for n in range(1, args.repeat + 1):
        row(f"round {n}: five shared, wall", lambda d, n=n: f"{d['run']['runs'][n]['seconds']:.2f} s")
        row(f"round {n}: five shared, CPU", lambda d, n=n: f"{d['run']['runs'][n]['cpu_seconds']:.2f} s")
        row(f"round {n}: SQL statements", lambda d, n=n: f"{d['run']['runs'][n]['queries']}")
    for i, p in enumerate(per_size[sizes[0]]["run"]["runs"][0]["policies"]):
        short = p["policy"][:34]
        row(
            f"  {short}: s / queries",
            lambda d, i=i: "{:.2f} s / {}".format(
                d["run"]["runs"][0]["policies"][i]["seconds"], d["run"]["runs"][0]["policies"][i]["queries"]
            ),
        )
        row(
            f"  {short}: scope/warn/act/cancel",
            lambda d, i=i: "{in_scope:,}/{to_warn:,}/{to_act:,}/{to_cancel:,}".format(
                **d["run"]["runs"][0]["policies"][i]["counts"]
            ),
        )
    row("load average (1 min) after the runs", lambda d: f"{d['run']['load_average_after'][0]:.1f}")
    row("RSS before the runs", lambda d: f"{d['run']['rss_before_mb']:.0f} MB")
    row("peak RSS of the run process", lambda d: f"{d['run']['peak_rss_mb']:.0f} MB")
    common.print_table(rows, header=header)
    print()
    for size, c in checks.items():
        failed = [k for k, ok in c.items() if not ok and k != "all"]
        print(f"checks at {size:,}: {'all ok' if not failed else 'FAILED: ' + ', '.join(failed)}")
    for t in targets:
        value = t["value"] if isinstance(t["value"], dict) else f"{t['value']:,.2f}"
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']} {t['rule']}  (measured {value})")
    if profile:
        print("\ncProfile of one dry run, top 25 by own time:")
        print(profile["top25_tottime"])

    path = common.write_results(
        "policies",
        {
            "machine": common.machine_info(),
            "command": " ".join([".venv/bin/python", "bench/bench_policies.py", *(argv or sys.argv[1:])]),
            "now": NOW.isoformat(),
            "targets": targets,
            "checks": {str(k): v for k, v in checks.items()},
            "sizes": {
                str(size): {
                    "build": data["build"],
                    "run": {k: v for k, v in data["run"].items() if k not in ("statements_first_run",)},
                    "statements_first_run": data["run"]["statements_first_run"] if size == min(sizes) else None,
                }
                for size, data in per_size.items()
            },
            "profile": profile,
        },
    )
    print(f"results: {path.relative_to(common.ROOT)}")
    return 0 if all(c["all"] for c in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
