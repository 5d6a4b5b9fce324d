"""Audit log benchmark: write N hash-chained events, then download them as an auditor does.

    .venv/bin/python bench/bench_audit.py                  # 1,000,000 events
    .venv/bin/python bench/bench_audit.py --events 100000  # quicker

1. A fresh SQLite database ``var/bench/audit.sqlite3`` (deleted, then migrated).
2. N realistic events through ``record_events`` in batches (the hash chain included).
3. The CSV download through the real admin view (``admin:governance_auditevent_download``)
   with Django's test client, logged in as a staff user of the "Auditors" group, in a separate
   process so that its peak RSS belongs to the download alone.
4. A results table, PASS/FAIL per target, and ``bench/results/audit.json``.
"""

import argparse
import cProfile
import csv
import gc
import io
import json
import os
import pstats
import random
import re
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

DB_NAME = "audit"
DJANGO_ENV = {"DJANGO_DEBUG": "true", "AUDIT_HMAC_KEY": "bench-key"}
AUDITOR_USERNAME = "bench-auditor"
TARGET_PEAK_RSS_MB = 150.0
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


# --- Realistic events ----------------------------------------------------------------------

_FIRST = ["Ann", "Bob", "Carla", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Priya"]
_LAST = ["Smith", "Müller", "Rossi", "Novak", "Tanaka", "Okafor", "García", "Dubois", "Nguyen", "O'Neil"]
# A few display names a spreadsheet would run as a formula: the CSV must escape them.
_FORMULA_NAMES = ["=Finance Team", "+44 Contractor", "-Ann-Marie Dupont", "@ops-bot"]
_GROUPS = [
    "jira-software-users",
    "confluence-users",
    "jira-servicemanagement-users",
    "site-admins",
    "org-admins",
    "contractors",
    "engineering",
    "finance-readonly",
]
_PRODUCTS = [("jira-software", "user"), ("confluence", "user"), ("jira-servicemanagement", "agent"), ("bitbucket", "")]
_ORGS = ["Acme Corp (acme.atlassian.net)", "Acme Labs (acme-labs.atlassian.net)"]
_POLICIES = ["Jira inactive 90 days", "Confluence inactive 120 days", "Contractors inactive 60 days"]


class EventFactory:
    """Deterministic, varied specs for ``record_events``: the mix a year of policy runs produces."""

    def __init__(self, seed: int = 20260301):
        from governance.audit.models import ActorKind
        from governance.audit.record import Actor

        self.rng = rng = random.Random(seed)
        self.people = []
        for i in range(5000):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            name = rng.choice(_FORMULA_NAMES) if rng.random() < 0.005 else f"{first} {last}"
            email = f"{first.lower()}.{last.lower().replace(chr(39), '')}{i}@example.com"
            account_id = f"{rng.getrandbits(96):024x}" if i % 3 else f"712020:{rng.getrandbits(128):032x}"
            self.people.append((account_id, f"{name} <{email}>", email))
        admins = [("alice.admin", "10.20.3.41"), ("bruno.admin", "10.20.3.77"), ("chen.admin", "2001:db8::4f")]
        help_desk = [("hank.helpdesk", "10.20.8.12"), ("ida.helpdesk", "10.20.8.19")]
        self.policy_actor = Actor.scheduler("policy-runner")
        self.sync_actor = Actor.system("atlassian-sync")
        self.admins = [Actor(kind=ActorKind.ADMIN, name=n, client_ip=ip) for n, ip in admins]
        self.help_desk = [Actor(kind=ActorKind.HELP_DESK, name=n, client_ip=ip) for n, ip in help_desk]
        builders = [
            (self._suspended, 20),
            (self._membership_removed, 18),
            (self._warned, 15),
            (self._membership_added, 10),
            (self._role_revoked, 8),
            (self._restored, 6),
            (self._status_changed, 6),
            (self._executed, 5),
            (self._role_assigned, 5),
            (self._imported, 4),
            (self._request_approved, 2),
            (self._sync_completed, 1),
        ]
        self.builders = [b for b, _ in builders]
        self.weights = [w for _, w in builders]
        self.correlation_id, self.left_in_run, self.n = "", 0, 0

    def batch(self, size: int) -> list[dict]:
        return [self.one() for _ in range(size)]

    def one(self) -> dict:
        rng = self.rng
        if self.left_in_run <= 0:  # a policy run or sync touches a few dozen accounts at once
            self.correlation_id, self.left_in_run = f"{rng.getrandbits(128):032x}", rng.randint(5, 60)
        self.left_in_run -= 1
        self.n += 1
        spec = rng.choices(self.builders, self.weights)[0](rng)
        spec.setdefault("organization", _ORGS[1] if self.n % 7 == 0 else _ORGS[0])
        spec["correlation_id"] = self.correlation_id
        return spec

    def _person(self, rng):
        return rng.choice(self.people)

    def _day(self, rng) -> str:
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"

    def _account(self, rng, action, actor, before, after, reason) -> dict:
        account_id, label, _ = self._person(rng)
        return dict(
            actor=actor,
            action=action,
            target_type="accounts.account",
            target_id=account_id,
            target_repr=label,
            before=before,
            after=after,
            reason=reason,
        )

    def _suspended(self, rng):
        days = rng.randint(91, 400)
        before = {"status": "active", "last_active": self._day(rng), "products": ["jira-software", "confluence"]}
        reason = f"Inactive for {days} days (policy “{rng.choice(_POLICIES)}”)"
        return self._account(rng, "account.suspended", self.policy_actor, before, {"status": "suspended"}, reason)

    def _restored(self, rng):
        reason = f"Restored on request REQ-{rng.randint(1000, 99999)}: back from parental leave"
        actor = rng.choice(self.help_desk)
        return self._account(rng, "account.restored", actor, {"status": "suspended"}, {"status": "active"}, reason)

    def _status_changed(self, rng):
        before, after = rng.sample(["active", "inactive", "closed"], 2)
        reason = "- changed directly in Atlassian admin" if rng.random() < 0.1 else "Seen in Atlassian sync"
        return self._account(
            rng, "account.status_changed", self.sync_actor, {"status": before}, {"status": after}, reason
        )

    def _imported(self, rng):
        after = {"status": "active", "email_domain": "example.com", "last_active": self._day(rng)}
        return self._account(rng, "account.imported", self.sync_actor, None, after, "")

    def _membership(self, rng, action, member_before, reason, actor):
        _, label, email = self._person(rng)
        group = rng.choice(_GROUPS)
        return dict(
            actor=actor,
            action=action,
            target_type="accounts.membership",
            target_id=f"{group}:{email}",
            target_repr=f"{label} in {group}",
            before={"group": group, "member": member_before},
            after={"group": group, "member": not member_before},
            reason=reason,
        )

    def _membership_removed(self, rng):
        reason = f"Removed by policy “{rng.choice(_POLICIES)}” after {rng.randint(61, 300)} days without activity"
        return self._membership(rng, "membership.removed", True, reason, self.policy_actor)

    def _membership_added(self, rng):
        reason = f"Access request REQ-{rng.randint(1000, 99999)} approved by manager"
        return self._membership(rng, "membership.added", False, reason, rng.choice(self.admins))

    def _role(self, rng, action, granted, reason, actor):
        account_id, label, _ = self._person(rng)
        product, role = rng.choice(_PRODUCTS)
        return dict(
            actor=actor,
            action=action,
            target_type="accounts.productrole",
            target_id=f"{account_id}:{product}",
            target_repr=f"{label} — {product} {role}".strip(),
            before={"product": product, "role": role, "granted": not granted},
            after={"product": product, "role": role, "granted": granted},
            reason=reason,
        )

    def _role_revoked(self, rng):
        return self._role(rng, "role.revoked", False, "Licence reclaimed: no login for 90 days", self.policy_actor)

    def _role_assigned(self, rng):
        return self._role(rng, "role.assigned", True, "Onboarding checklist", rng.choice(self.admins))

    def _warned(self, rng):
        account_id, label, email = self._person(rng)
        return dict(
            actor=self.policy_actor,
            action="enforcement.warned",
            target_type="policies.enforcement",
            target_id=str(rng.randint(1, 10**7)),
            target_repr=f"Warning to {label}",
            after={"channel": "email", "to": email, "due": self._day(rng), "account_id": account_id},
            reason=f"{rng.randint(7, 30)} days before suspension under “{rng.choice(_POLICIES)}”",
        )

    def _executed(self, rng):
        _, label, _ = self._person(rng)
        return dict(
            actor=self.policy_actor,
            action="enforcement.executed",
            target_type="policies.enforcement",
            target_id=str(rng.randint(1, 10**7)),
            target_repr=f"Suspend {label}",
            before={"state": "approved"},
            after={"state": "executed", "http_status": 204, "attempts": rng.randint(1, 3)},
            reason="Executed after the warning period",
        )

    def _request_approved(self, rng):
        _, label, _ = self._person(rng)
        return dict(
            actor=rng.choice(self.admins),
            action="request.approved",
            target_type="policies.accessrequest",
            target_id=str(rng.randint(1, 10**6)),
            target_repr=f"{label} asks for {rng.choice(_GROUPS)}",
            before={"state": "pending"},
            after={"state": "approved", "comment": "OK for the Q3 project"},
            reason="Manager approval",
        )

    def _sync_completed(self, rng):
        return dict(
            actor=self.sync_actor,
            action="sync.completed",
            target_type="governance.syncrun",
            target_id=str(rng.randint(1, 10**5)),
            target_repr="Atlassian directory sync",
            after={
                "accounts": rng.randint(11000, 13000),
                "created": rng.randint(0, 20),
                "updated": rng.randint(0, 400),
                "removed": rng.randint(0, 5),
                "duration_s": round(rng.uniform(20, 90), 1),
            },
            reason="",
        )


def write_events(total: int, batch: int) -> dict:
    from django.db import reset_queries

    from governance.audit.record import record_events

    factory = EventFactory()
    generate_s = record_s = 0.0
    written, next_report = 0, max(total // 10, batch)
    wall_start = time.perf_counter()
    while written < total:
        size = min(batch, total - written)
        with common.stopwatch() as gen:
            specs = factory.batch(size)
        with common.stopwatch() as rec:
            record_events(specs)
        reset_queries()  # DEBUG is on: do not let connection.queries hold thousands of INSERTs
        generate_s += gen.seconds
        record_s += rec.seconds
        written += size
        if written >= next_report or written == total:
            print(f"  wrote {written:>10,} events  {written / record_s:>9,.0f} events/s", flush=True)
            next_report += max(total // 10, batch)
    return {
        "events": total,
        "batch": batch,
        "record_seconds": record_s,
        "generate_seconds": generate_s,
        "wall_seconds": time.perf_counter() - wall_start,
        "events_per_s": total / record_s if record_s else 0.0,
    }


def create_auditor():
    from django.contrib.auth.models import Group, User

    from governance.roles import AUDITORS

    user, _ = User.objects.get_or_create(username=AUDITOR_USERNAME, defaults={"email": "auditor@bench.test"})
    user.set_unusable_password()
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=AUDITORS))
    return user


# --- The download, in its own process ------------------------------------------------------


def download_child(result_file: Path, *, profile: bool) -> None:
    """Runs in the child: GET the CSV as the auditor and consume the stream; write figures as JSON."""
    common.setup_django()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    client = Client(HTTP_HOST="localhost")  # a host the DEBUG settings allow
    client.force_login(User.objects.get(username=AUDITOR_USERNAME))
    url = reverse("admin:governance_auditevent_download")
    floor = audit_floor()
    gc.collect()
    # The child's own peak: VmHWM, restarted here so that it covers the download alone.
    # (ru_maxrss is also reported, but in a subprocess it starts at the parent's peak.)
    startup_peak, rss_before = common.peak_rss_mb(), common.rss_mb()
    peak_reset = common.reset_peak_rss()

    profiler = cProfile.Profile() if profile else None
    nbytes = lines = chunks = 0
    head = prev = last = b""
    ttfb = None
    start, cpu_start = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    response = client.get(url)
    for chunk in response.streaming_content:
        if ttfb is None:
            ttfb, head = time.perf_counter() - start, chunk[:8192]
        chunks += 1
        nbytes += len(chunk)
        lines += chunk.count(b"\r\n")  # the generated data has no CR LF inside a field
        prev, last = last, chunk  # chunks end on a row boundary: prev + last holds >= one full chunk
    if profiler:
        profiler.disable()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start

    result = {
        "status": response.status_code,
        "streaming": response.streaming,
        "content_type": response.get("Content-Type", ""),
        "bytes": nbytes,
        "lines": lines,
        "chunks": chunks,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "ttfb_seconds": ttfb,
        "startup_peak_mb": startup_peak,
        "rss_before_mb": rss_before,
        "peak_reset": peak_reset,
        "download_peak_mb": common.peak_rss_mb(),
        "rss_after_mb": common.rss_mb(),
        "ru_maxrss_mb": common.ru_maxrss_mb(),
        "head": head.decode("utf-8", "replace").split("\r\n")[:2],
        "tail_rows": list(csv.reader(io.StringIO((prev + last).decode())))[-2:],
        "floor": _faster(floor, audit_floor()),
    }
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        result["profile_tottime"] = out.getvalue()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        result["profile_cumulative"] = out.getvalue()
    result_file.write_text(json.dumps(result))


def _faster(first: dict, second: dict) -> dict:
    """The floor is measured before and after the download, in the same process: the faster
    run is the floor (the first may pay for a cold cache the download then finds warm)."""
    best = min(first, second, key=lambda f: f["seconds"])
    return {**best, "runs_seconds": [first["seconds"], second["seconds"]]}


def audit_floor() -> dict:
    """The download's floor, in the same process just before it: the query the download runs
    (``audit_rows``: every event in ``seq`` order, the JSON columns as text) fetched and written
    with ``csv.writer`` to a null sink (bench/common.py ``csv_floor``)."""
    from django.db.models import TextField
    from django.db.models.functions import Cast

    from governance.audit.export import CSV_HEADER, _columns
    from governance.audit.models import AuditEvent

    values = (
        AuditEvent.objects.order_by("seq")
        .annotate(before_text=Cast("before", TextField()), after_text=Cast("after", TextField()))
        .values_list(*_columns(CSV_HEADER))
    )
    floor = common.csv_floor([values])
    floor["rows_per_s"] = floor["rows"] / floor["seconds"] if floor["seconds"] else 0.0
    return floor


def run_download(*, profile: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "download.json"
        args = ["-m", "bench.bench_audit", "--download-child", "--result-file", str(result_file)]
        with common.stopwatch() as wall:
            proc = common.run_python([*args, "--profile"] if profile else args)
        if proc.returncode != 0 or not result_file.exists():
            raise SystemExit(f"the download process failed (exit {proc.returncode})")
        result = json.loads(result_file.read_text())
    result["process_wall_seconds"] = wall.seconds
    result["rows"] = result["lines"] - 1  # minus the header
    result["rows_per_s"] = result["rows"] / result["seconds"] if result["seconds"] else 0.0
    # Well below 100 % when other processes competed for the CPU: rows/s then understates the code.
    result["cpu_share"] = result["cpu_seconds"] / result["seconds"] if result["seconds"] else 0.0
    result["mb_per_s"] = result["bytes"] / 2**20 / result["seconds"] if result["seconds"] else 0.0
    # The process's peak: start-up (Django loaded) or the download, whichever is higher.
    result["peak_rss_mb"] = max(result["startup_peak_mb"], result["download_peak_mb"])
    result["rss_growth_mb"] = result["download_peak_mb"] - result["rss_before_mb"]
    floor = result["floor"]
    result["ratio_to_floor"] = result["rows_per_s"] / floor["rows_per_s"] if floor["rows_per_s"] else 0.0
    return result


def verify_download(download: dict, expected_rows: int) -> dict:
    """Row count, header, and a spot-check of the last two rows (chain link included)."""
    from governance.audit.export import CSV_HEADER

    checks = {
        "status_200": download["status"] == 200,
        "streamed": download["streaming"] is True,
        "text_csv": download["content_type"].startswith("text/csv"),
        "header": download["head"][:1] == [",".join(CSV_HEADER)],
        "first_row_is_seq_1": bool(download["head"][1:]) and download["head"][1].startswith("1,"),
        "row_count": download["rows"] == expected_rows,
    }
    tail = download["tail_rows"]
    ok_last = len(tail) == 2 and all(len(row) == len(CSV_HEADER) for row in tail)
    if ok_last:
        before_last, last = (dict(zip(CSV_HEADER, row, strict=True)) for row in tail)
        ok_last = (
            last["seq"] == str(expected_rows)
            and last["action"] == "audit.exported"  # the download records itself before streaming
            and last["actor_name"] == AUDITOR_USERNAME
            and bool(ISO_UTC.match(last["created_at"]))
            and bool(re.fullmatch(r"[0-9a-f]{64}", last["hash"]))
            and last["prev_hash"] == before_last["hash"]
            and before_last["seq"] == str(expected_rows - 1)
            and isinstance(json.loads(before_last["after"] or "null"), dict | None)
        )
    checks["last_row_parses"] = ok_last
    checks["all"] = all(checks.values())
    return checks


# --- Main ----------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to write (default 1,000,000)")
    parser.add_argument("--batch", type=int, default=5000, help="events per record_events() call (default 5,000)")
    profiling = parser.add_mutually_exclusive_group()
    profiling.add_argument("--profile", action="store_true", help="always run a second, profiled download")
    profiling.add_argument("--no-profile", action="store_true", help="never profile, even below target")
    parser.add_argument(
        "--download-only", action="store_true", help="keep the existing database; only download (for iterating)"
    )
    parser.add_argument("--download-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.download_child:
        download_child(args.result_file, profile=args.profile)
        return 0

    if args.download_only:
        db = common.configure(DB_NAME, env=DJANGO_ENV)
        if not db.exists():
            raise SystemExit(f"{db} does not exist: run without --download-only first")
        common.setup_django()
        migrate_s, write = 0.0, None
    else:
        with common.stopwatch() as mig:
            db = common.fresh_database(DB_NAME, env=DJANGO_ENV)
        migrate_s = mig.seconds
        print(f"fresh database {db} migrated in {migrate_s:.1f}s; writing {args.events:,} events", flush=True)
        write = write_events(args.events, args.batch)

    from django.db import connections

    from governance.audit.models import AuditEvent

    create_auditor()
    common.sqlite_checkpoint()
    existing = AuditEvent.objects.count()
    connections.close_all()
    wal = Path(f"{db}-wal")
    wal_mb = wal.stat().st_size / 2**20 if wal.exists() else 0.0
    print(f"downloading {existing:,} events as {AUDITOR_USERNAME!r} in a separate process", flush=True)
    download = run_download()
    checks = verify_download(download, expected_rows=existing + 1)

    targets = [
        common.check_target("download peak RSS (MB)", download["peak_rss_mb"], below=TARGET_PEAK_RSS_MB),
        common.check_target("download / floor (same query, csv.writer)", download["ratio_to_floor"], at_least=0.8),
    ]
    profile = None
    if args.profile or (not args.no_profile and not targets[1]["pass"]):
        print("profiling the download (cProfile, a second child process)", flush=True)
        profiled = run_download(profile=True)
        profile = {
            "rows": profiled["rows"],
            "seconds_under_profiler": profiled["seconds"],
            "top15_tottime": profiled["profile_tottime"],
            "top25_cumulative": profiled["profile_cumulative"],
        }

    rows = []
    if write:
        rows += [
            ("write: events", f"{write['events']:,}"),
            ("write: events/s (record_events)", f"{write['events_per_s']:,.0f}"),
            ("write: record_events time", f"{write['record_seconds']:.1f} s"),
            ("write: wall incl. generating specs", f"{write['wall_seconds']:.1f} s"),
            ("migrate", f"{migrate_s:.1f} s"),
        ]
    rows += [
        ("database size", f"{common.file_size_mb(db):,.0f} MB"),
        ("download: data rows (+1 header)", f"{download['rows']:,}"),
        ("download: bytes", f"{download['bytes'] / 2**20:,.1f} MB"),
        ("download: rows/s", f"{download['rows_per_s']:,.0f}"),
        ("download: MB/s", f"{download['mb_per_s']:,.1f}"),
        ("download: time to first chunk", f"{download['ttfb_seconds']:.2f} s"),
        ("download: GET + stream time", f"{download['seconds']:.1f} s"),
        ("download: CPU time / wall (contention)", f"{download['cpu_seconds']:.1f} s, {download['cpu_share']:.0%}"),
        ("download: process wall incl. startup", f"{download['process_wall_seconds']:.1f} s"),
        ("download: RSS before GET", f"{download['rss_before_mb']:.1f} MB"),
        ("download: peak RSS during download", f"{download['download_peak_mb']:.1f} MB"),
        ("download: growth during download", f"{download['rss_growth_mb']:+.1f} MB"),
        ("download: peak RSS of the process", f"{download['peak_rss_mb']:.1f} MB"),
        ("download: ru_maxrss (incl. parent's)", f"{download['ru_maxrss_mb']:.1f} MB"),
        ("floor: same query, csv.writer, null sink: rows/s", f"{download['floor']['rows_per_s']:,.0f}"),
        (
            "floor: wall / CPU, CPU/wall",
            f"{download['floor']['seconds']:.2f} / {download['floor']['cpu_seconds']:.2f} s, "
            f"{download['floor']['cpu_seconds'] / download['floor']['seconds']:.0%}",
        ),
        ("download / floor", f"{download['ratio_to_floor']:.2f}"),
        ("load average (1, 5, 15 min)", " ".join(f"{x:.1f}" for x in os.getloadavg())),
    ]
    print()
    common.print_table(rows, header=("figure", "value"))
    print()
    for name, ok in checks.items():
        if name != "all":
            print(f"check {name:<20} {'ok' if ok else 'FAILED'}")
    for t in targets:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']} {t['rule']}  (measured {t['value']:,.2f})")
    if profile:
        print("\ncProfile of the download, top 15 by own time:")
        print(profile["top15_tottime"])

    path = common.write_results(
        "audit",
        {
            "machine": common.machine_info(),
            "command": " ".join([".venv/bin/python", "bench/bench_audit.py", *(argv or sys.argv[1:])]),
            "database": str(db),
            "database_size_mb": common.file_size_mb(db),
            "wal_mb_before_download": wal_mb,
            "migrate_seconds": migrate_s,
            "write": write,
            "download": {k: v for k, v in download.items() if not k.startswith(("profile_", "head", "tail_rows"))},
            "checks": checks,
            "targets": targets,
            "profile": profile,
        },
    )
    print(f"results: {path.relative_to(common.ROOT)}")
    return 0 if checks["all"] else 1


if __name__ == "__main__":
    sys.exit(main())
