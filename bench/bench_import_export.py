"""Account export and import benchmark: the admin's CSV export, and seeding the mirror from a file.

    .venv/bin/python bench/bench_import_export.py                      # 100,000 accounts, 1,000,000 memberships
    .venv/bin/python bench/bench_import_export.py --accounts 10000     # quicker
    .venv/bin/python bench/bench_import_export.py --baseline-rows 20000  # shorter django-import-export baseline

1. A fresh SQLite database ``var/bench/import_export.sqlite3`` (deleted, then migrated).
2. One organization with 4 products, 2,000 groups and N accounts, each in 10 groups (10 N
   memberships) and using 1 to 3 products, written with ``bulk_create``; a few names are formulas.
3. The CSV export through the real admin (``admin:accounts_account_export``, POST format CSV) with
   Django's test client as a portal admin, in a separate process so that its peak RSS (VmHWM)
   belongs to the export alone; the stream is consumed and checked. The XLSX export of the same
   accounts (at most the 100,000-row cap) is timed the same way, for information.
4. A users-export CSV of N new people (admin.atlassian.com's shape: groups as a comma-separated
   cell, per-product last seen) seeded into an empty organization by the same functions the admin
   import calls (read, recognise, plan, apply with audit events), in a child process.
5. The same file through django-import-export with its default settings: a plain ModelResource
   (columns mapped to Account fields, nothing else changed) calling ``import_data``, into another
   empty organization, in a child process. Its rows/s and ours give the ratio.
6. A results table, PASS/FAIL per target (never asserted), and ``bench/results/import_export.json``.
"""

import argparse
import csv
import gc
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.mirror import (
    ADMIN_USERNAME,
    FIRST_NAMES,
    GROUPS_PER_ACCOUNT,
    PRODUCTS,
    PRODUCTS_ALL,
    existing_mirror,
    generate_mirror,
    person_name,
)

DB_NAME = "import_export"
# The seed file of 100,000 rows is ~20 MB: above the 5 MB default IMPORT_MAX_BYTES, which an
# operator importing such a file raises. The benchmark measures the engine behind the limit.
# DEBUG off (production settings) so that Django does not keep the SQL of every bulk INSERT in
# memory; without TLS in front, the SSL redirect is off too.
DJANGO_ENV = {
    "DJANGO_DEBUG": "false",
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    "DJANGO_ALLOWED_HOSTS": "localhost",
    "DJANGO_SECRET_KEY": "bench-secret-key-bench-secret-key-bench-secret-key-0123456789",
    "AUDIT_HMAC_KEY": "bench-key",
    "IMPORT_MAX_BYTES": str(256 * 2**20),
    "IMPORT_MAX_ROWS": "1000000",
}
TARGET_EXPORT_ROWS_PER_S = 50_000
TARGET_EXPORT_PEAK_RSS_MB = 200.0
TARGET_IMPORT_ROWS_PER_S = 5_000
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


# --- The seed file (parent process) -------------------------------------------------------


def write_seed_file(path: Path, people: int, seed: int = 7) -> dict:
    """A users export as admin.atlassian.com writes it (API.md section 10), for ``people`` new accounts."""
    rng = random.Random(seed)
    header = ["User id", "User name", "email", "User status", "Added to org", "Org role", "Group name"]
    header += [f"{name} - acme" for _, name in PRODUCTS[:2]]
    header += [f"Last seen in {name} - acme" for _, name in PRODUCTS]
    group_names = [f"seed-team-{i:03d}" for i in range(200)]
    statuses = ["Active"] * 8 + ["Suspended", "Deactivated"]

    def seen() -> str:
        if rng.random() < 0.15:
            return "Never accessed"
        return f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.choice((2024, 2025))}"

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(people):
            first = rng.choice(FIRST_NAMES)
            writer.writerow(
                [
                    f"712020:{rng.getrandbits(128):032x}",
                    person_name(rng, i),
                    f"{first.lower()}.seed{i}@example.com",
                    statuses[i % len(statuses)],
                    f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.randint(2019, 2025)}",
                    "Organization admin" if i % 5000 == 0 else "Basic",
                    ", ".join(rng.sample(group_names, 3)),
                    "User",
                    "User" if i % 3 else "",
                    seen(),
                    seen(),
                    "Never accessed" if i % 4 else seen(),
                ]
            )
    return {"rows": people, "bytes": path.stat().st_size}


# --- Children ----------------------------------------------------------------------------------


def _child_start() -> tuple[float, float, bool]:
    gc.collect()
    startup_peak, rss_before = common.peak_rss_mb(), common.rss_mb()
    return startup_peak, rss_before, common.reset_peak_rss()


def export_child(result_file: Path, fmt: str) -> None:
    """POST the admin's export as the portal admin and consume it; figures as JSON."""
    common.setup_django()
    from django.contrib.admin import site
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    from accounts.importexport.admin import AccountImportExportMixin
    from accounts.models import Account

    if not isinstance(site._registry.get(Account), AccountImportExportMixin):
        raise SystemExit("the account admin does not include AccountImportExportMixin")
    client = Client(HTTP_HOST="localhost")
    client.force_login(User.objects.get(username=ADMIN_USERNAME))
    url = reverse("admin:accounts_account_export")
    startup_peak, rss_before, peak_reset = _child_start()
    nbytes = lines = 0
    head = tail = b""
    ttfb = None
    start, start_cpu = time.perf_counter(), time.process_time()
    response = client.post(url, {"format": "0" if fmt == "csv" else "1", "resource": "0"})
    if response.streaming:
        for chunk in response.streaming_content:
            if ttfb is None:
                ttfb, head = time.perf_counter() - start, chunk[:8192]
            nbytes += len(chunk)
            lines += chunk.count(b"\r\n")  # the generated data has no CR LF inside a field
            tail = (tail + chunk)[-16384:]
        rows = lines - 1
        sample = {
            "head": head.decode("utf-8", "replace").split("\r\n")[:2],
            "tail_rows": list(csv.reader(io.StringIO(tail.decode("utf-8", "replace"))))[-2:],
        }
    else:
        content = response.content
        nbytes, ttfb = len(content), time.perf_counter() - start
        rows, sample = _xlsx_rows(content)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - start_cpu
    result = {
        "format": fmt,
        "cpu_seconds": cpu_seconds,
        "rows_per_cpu_s": rows / cpu_seconds if cpu_seconds else 0.0,
        "status": response.status_code,
        "streaming": response.streaming,
        "content_type": response.get("Content-Type", ""),
        "bytes": nbytes,
        "rows": rows,
        "seconds": seconds,
        "ttfb_seconds": ttfb,
        "rows_per_s": rows / seconds if seconds else 0.0,
        "startup_peak_mb": startup_peak,
        "rss_before_mb": rss_before,
        "peak_reset": peak_reset,
        "work_peak_mb": common.peak_rss_mb(),
        **sample,
    }
    result_file.write_text(json.dumps(result))


def _xlsx_rows(content: bytes) -> tuple[int, dict]:
    if not content.startswith(b"PK"):
        return 0, {"error": content[:300].decode("utf-8", "replace")}
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(content), read_only=True).active
    head = [",".join(str(c or "") for c in row) for row in sheet.iter_rows(min_row=1, max_row=2, values_only=True)]
    return sum(1 for _ in sheet.iter_rows(values_only=True)) - 1, {"head": head}


def seed_child(result_file: Path, seed_file: Path) -> None:
    """Seed an empty organization from the file with the admin import's functions."""
    common.setup_django()
    from accounts.importexport.formats import read_csv
    from accounts.importexport.seed import apply_seed, plan_seed
    from accounts.importexport.variants import detect, seed_records
    from accounts.models import Account, Membership, Organization, ProductAccess
    from governance.audit.models import AuditAction, AuditEvent
    from governance.audit.record import Actor

    org = Organization.objects.create(org_id="seed-org", name="Seeded from a file", api_base="http://127.0.0.1:9")
    data = seed_file.read_bytes()
    startup_peak, rss_before, peak_reset = _child_start()
    phases = {}
    start_cpu = time.process_time()
    with common.stopwatch() as total:
        with common.stopwatch() as t:
            table = read_csv(data)
            variant = detect(table.headers)
            parsed = seed_records(table, variant)
        phases["read_and_recognise_s"] = t.seconds
        with common.stopwatch() as t:
            plan = plan_seed(organization=org, parsed=parsed, file_name=seed_file.name)
        phases["plan_s"] = t.seconds
        if plan.errors:
            raise SystemExit(f"the seed plan has errors: {[str(e) for e in plan.errors[:5]]}")
        with common.stopwatch() as t:
            outcome = apply_seed(plan=plan, actor=Actor.system("bench"))
        phases["apply_s"] = t.seconds
    cpu_seconds = time.process_time() - start_cpu
    rows = len(table.rows)
    result = {
        "variant": str(variant),
        # CPU time of this process (SQLite runs in it): what other processes on a shared machine
        # cannot inflate, unlike the wall time the target is judged on.
        "cpu_seconds": cpu_seconds,
        "rows_per_cpu_s": rows / cpu_seconds,
        "rows": rows,
        "seconds": total.seconds,
        "rows_per_s": rows / total.seconds,
        "rows_per_s_without_audit": rows / (total.seconds - outcome.timings["audit_s"]),
        "phases": phases,
        "counts": outcome.counts,
        "events": outcome.events,
        "apply_timings": outcome.timings,
        "accounts_in_org": Account.objects.filter(organization=org).count(),
        "memberships_in_org": Membership.objects.filter(account__organization=org).count(),
        "product_access_in_org": ProductAccess.objects.filter(account__organization=org).count(),
        "imported_events": AuditEvent.objects.filter(
            action=AuditAction.ACCOUNT_IMPORTED, correlation_id=outcome.correlation_id
        ).count(),
        "startup_peak_mb": startup_peak,
        "rss_before_mb": rss_before,
        "peak_reset": peak_reset,
        "work_peak_mb": common.peak_rss_mb(),
    }
    result_file.write_text(json.dumps(result))


def baseline_child(result_file: Path, seed_file: Path, rows: int) -> None:
    """django-import-export with its defaults: a plain ModelResource and ``import_data``."""
    common.setup_django()
    import tablib
    from import_export import fields, resources

    from accounts.models import Account, Organization

    org = Organization.objects.create(org_id="baseline-org", name="import_data baseline", api_base="http://x.test")

    class PlainAccountResource(resources.ModelResource):
        # The only changes from a bare ModelResource: the file's column names, and the organization
        # (a required foreign key the file cannot carry).
        account_id = fields.Field(attribute="account_id", column_name="User id")
        name = fields.Field(attribute="name", column_name="User name")
        email = fields.Field(attribute="email", column_name="email")
        status = fields.Field(attribute="status", column_name="User status")

        class Meta:
            model = Account
            fields = ("account_id", "name", "email", "status")
            import_id_fields = ("account_id",)

        def before_save_instance(self, instance, row, **kwargs):
            instance.organization = org

    text = seed_file.read_text(encoding="utf-8")
    if rows:
        text = "\r\n".join(text.splitlines()[: rows + 1]) + "\r\n"
    startup_peak, rss_before, peak_reset = _child_start()
    start_cpu = time.process_time()
    with common.stopwatch() as t:
        dataset = tablib.Dataset().load(text, format="csv")
        result = PlainAccountResource().import_data(dataset, dry_run=False)
    cpu_seconds = time.process_time() - start_cpu
    figures = {
        "rows": len(dataset),
        "seconds": t.seconds,
        "cpu_seconds": cpu_seconds,
        "rows_per_cpu_s": len(dataset) / cpu_seconds,
        "rows_per_s": len(dataset) / t.seconds,
        "errors": result.has_errors() or result.has_validation_errors(),
        "accounts_in_org": Account.objects.filter(organization=org).count(),
        "startup_peak_mb": startup_peak,
        "rss_before_mb": rss_before,
        "peak_reset": peak_reset,
        "work_peak_mb": common.peak_rss_mb(),
    }
    result_file.write_text(json.dumps(figures))


def run_child(kind: str, *extra: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        args = ["-m", "bench.bench_import_export", "--child", kind, "--result-file", str(result_file), *extra]
        with common.stopwatch() as wall:
            proc = common.run_python(args)
        if proc.returncode != 0 or not result_file.exists():
            raise SystemExit(f"the {kind} process failed (exit {proc.returncode})")
        result = json.loads(result_file.read_text())
    result["process_wall_seconds"] = wall.seconds
    result["peak_rss_mb"] = max(result["startup_peak_mb"], result["work_peak_mb"])
    return result


def verify_export(export: dict, accounts: int) -> dict:
    from accounts.importexport.resources import ACCOUNT_COLUMNS

    header = ",".join([*ACCOUNT_COLUMNS, "groups", "return_on", *(f"last_active:{k}" for k, _ in sorted(PRODUCTS_ALL))])
    checks = {
        "status_200": export["status"] == 200,
        "streamed": export["streaming"] is True,
        "text_csv": export["content_type"].startswith("text/csv"),
        "header": export["head"][:1] == [header],
        "row_count": export["rows"] == accounts,
    }
    tail = export.get("tail_rows") or []
    width = header.count(",") + 1
    checks["last_rows_parse"] = (
        len(tail) == 2
        and all(len(row) == width for row in tail)
        and all(len(row[10].split("; ")) == GROUPS_PER_ACCOUNT for row in tail)
    )
    checks["all"] = all(checks.values())
    return checks


# --- Main ----------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts in the mirror, rows in the seed file")
    parser.add_argument(
        "--baseline-rows", type=int, default=0, help="seed-file rows for the django-import-export baseline (0: all)"
    )
    parser.add_argument("--no-xlsx", action="store_true", help="skip the (informational) XLSX export")
    parser.add_argument(
        "--reuse-database", action="store_true", help="keep var/bench/import_export.sqlite3 and its seed file; rerun"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the django-import-export baseline")
    parser.add_argument("--child", choices=["export-csv", "export-xlsx", "seed", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        common.configure(DB_NAME, env=DJANGO_ENV)
        if args.child.startswith("export"):
            export_child(args.result_file, args.child.split("-")[1])
        elif args.child == "seed":
            seed_child(args.result_file, args.seed_file)
        else:
            baseline_child(args.result_file, args.seed_file, args.baseline_rows)
        return 0

    seed_file = common.BENCH_VAR_DIR / "seed_users_export.csv"
    if args.reuse_database:
        db = common.configure(DB_NAME, env=DJANGO_ENV)
        if not db.exists() or not seed_file.exists():
            raise SystemExit(f"{db} or {seed_file} does not exist: run without --reuse-database first")
        common.setup_django()
        print("removing the organizations earlier runs seeded, so the export sees the same mirror", flush=True)
        from accounts.models import Organization

        Organization.objects.filter(org_id__regex=r"^(seed|baseline)-org").delete()
        mirror = existing_mirror()
        args.accounts = mirror["accounts"]
        seed_info = {"rows": sum(1 for _ in seed_file.open(encoding="utf-8")) - 1, "bytes": seed_file.stat().st_size}
    else:
        with common.stopwatch() as mig:
            db = common.fresh_database(DB_NAME, env=DJANGO_ENV)
        print(f"fresh database {db} migrated in {mig.seconds:.1f}s", flush=True)
        print(f"writing {args.accounts:,} accounts and {args.accounts * GROUPS_PER_ACCOUNT:,} memberships", flush=True)
        mirror = generate_mirror(args.accounts)
        seed_info = write_seed_file(seed_file, args.accounts)
    common.sqlite_checkpoint()
    from django.db import connections

    connections.close_all()

    load_before = os.getloadavg()
    print("exporting CSV through the admin (separate process)", flush=True)
    export = run_child("export-csv")
    checks = verify_export(export, args.accounts)
    xlsx = None
    if not args.no_xlsx:
        print("exporting XLSX through the admin (separate process)", flush=True)
        xlsx = run_child("export-xlsx")
    print(f"seeding an empty organization from a {seed_info['bytes'] / 2**20:.1f} MB users export", flush=True)
    seed = run_child("seed", "--seed-file", str(seed_file))
    checks["seed_created_every_account"] = seed["accounts_in_org"] == seed_info["rows"] == seed["imported_events"]
    checks["all"] = all(v for k, v in checks.items() if k != "all")
    baseline = None
    if not args.no_baseline:
        rows = args.baseline_rows or args.accounts
        print(f"the same file through django-import-export defaults ({rows:,} rows)", flush=True)
        baseline = run_child("baseline", "--seed-file", str(seed_file), "--baseline-rows", str(args.baseline_rows))

    load_after = os.getloadavg()
    targets = [
        common.check_target("export rows/s (CSV)", export["rows_per_s"], at_least=TARGET_EXPORT_ROWS_PER_S),
        common.check_target("export peak RSS (MB)", export["peak_rss_mb"], below=TARGET_EXPORT_PEAK_RSS_MB),
        common.check_target("seed import rows/s", seed["rows_per_s"], at_least=TARGET_IMPORT_ROWS_PER_S),
    ]
    rows = [
        ("mirror: accounts / memberships", f"{mirror['accounts']:,} / {mirror['memberships']:,}"),
        ("mirror: product access rows", f"{mirror['product_access']:,}"),
        ("mirror: generation time", f"{sum(mirror['seconds'].values()):.1f} s"),
        ("database size", f"{common.file_size_mb(db):,.0f} MB"),
        ("export CSV: rows", f"{export['rows']:,}"),
        ("export CSV: MB", f"{export['bytes'] / 2**20:,.1f}"),
        ("export CSV: rows/s", f"{export['rows_per_s']:,.0f}"),
        ("export CSV: time to first chunk", f"{export['ttfb_seconds']:.2f} s"),
        ("export CSV: POST + stream time (CPU)", f"{export['seconds']:.1f} s ({export['cpu_seconds']:.1f} s)"),
        ("export CSV: RSS before POST", f"{export['rss_before_mb']:.1f} MB"),
        ("export CSV: peak RSS during export", f"{export['work_peak_mb']:.1f} MB"),
        ("export CSV: peak RSS of the process", f"{export['peak_rss_mb']:.1f} MB"),
    ]
    if xlsx:
        rows += [
            ("export XLSX: rows", f"{xlsx['rows']:,}"),
            ("export XLSX: rows/s", f"{xlsx['rows_per_s']:,.0f}"),
            ("export XLSX: peak RSS of the process", f"{xlsx['peak_rss_mb']:.1f} MB"),
        ]
    rows += [
        ("seed file: rows / MB", f"{seed_info['rows']:,} / {seed_info['bytes'] / 2**20:.1f}"),
        ("seed: rows/s (read + plan + apply)", f"{seed['rows_per_s']:,.0f}"),
        ("seed: rows per CPU second", f"{seed['rows_per_cpu_s']:,.0f}"),
        ("seed: read and recognise", f"{seed['phases']['read_and_recognise_s']:.1f} s"),
        ("seed: plan", f"{seed['phases']['plan_s']:.1f} s"),
        ("seed: apply (one transaction)", f"{seed['phases']['apply_s']:.1f} s"),
        ("seed:   of which mirror writes", f"{seed['apply_timings']['mirror_s']:.1f} s"),
        ("seed:   of which audit events", f"{seed['apply_timings']['audit_s']:.1f} s"),
        ("seed: rows/s leaving out the audit events", f"{seed['rows_per_s_without_audit']:,.0f}"),
        ("seed: memberships / product access", f"{seed['memberships_in_org']:,} / {seed['product_access_in_org']:,}"),
        ("seed: audit events", f"{seed['events']:,}"),
        ("seed: peak RSS of the process", f"{seed['peak_rss_mb']:.1f} MB"),
    ]
    if baseline:
        ratio = seed["rows_per_s"] / baseline["rows_per_s"] if baseline["rows_per_s"] else 0.0
        baseline["ratio_seed_to_baseline"] = ratio
        cpu_ratio = seed["rows_per_cpu_s"] / baseline["rows_per_cpu_s"] if baseline["rows_per_cpu_s"] else 0.0
        baseline["cpu_ratio_seed_to_baseline"] = cpu_ratio
        rows += [
            ("django-import-export defaults: rows", f"{baseline['rows']:,}"),
            ("django-import-export defaults: rows/s", f"{baseline['rows_per_s']:,.0f}"),
            ("django-import-export defaults: peak RSS", f"{baseline['peak_rss_mb']:.1f} MB"),
            ("django-import-export defaults: rows per CPU second", f"{baseline['rows_per_cpu_s']:,.0f}"),
            ("seed rows/s ÷ defaults rows/s (CPU)", f"{ratio:,.1f}x ({cpu_ratio:,.1f}x)"),
        ]
    print()
    common.print_table(rows, header=("figure", "value"))
    print()
    for name, ok in checks.items():
        if name != "all":
            print(f"check {name:<28} {'ok' if ok else 'FAILED'}")
    for t in targets:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']} {t['rule']}  (measured {t['value']:,.1f})")

    path = common.write_results(
        "import_export",
        {
            "machine": common.machine_info(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "command": " ".join([".venv/bin/python", "bench/bench_import_export.py", *(argv or sys.argv[1:])]),
            "database": str(db),
            "database_size_mb": common.file_size_mb(db),
            "mirror": mirror,
            "export_csv": {k: v for k, v in export.items() if k not in ("head", "tail_rows")},
            "export_xlsx": xlsx,
            "seed_file": seed_info,
            "seed": seed,
            "baseline": baseline,
            "checks": checks,
            "targets": targets,
        },
    )
    print(f"load average before/after: {load_before} / {load_after}")
    print(f"results: {path.relative_to(common.ROOT)}")
    return 0 if checks["all"] else 1


if __name__ == "__main__":
    sys.exit(main())
