"""Small helpers shared by the benchmarks.

Each benchmark gets its own SQLite file under ``var/bench/`` that is deleted and migrated
afresh per run, so figures never depend on whatever the development database holds. The
environment is set *before* Django is imported; child processes inherit it.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_VAR_DIR = ROOT / "var" / "bench"
RESULTS_DIR = Path(__file__).resolve().parent / "results"

_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


# --- Database and Django -------------------------------------------------------------------


def sqlite_path(name: str) -> Path:
    return BENCH_VAR_DIR / f"{name}.sqlite3"


def configure(db_name: str, *, settings: str = "governance.settings", env: dict[str, str] | None = None) -> Path:
    """Point Django at ``var/bench/<db_name>.sqlite3`` (and ``env``) before it is imported."""
    db = sqlite_path(db_name)
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    os.environ["DATABASE_URL"] = f"sqlite:///{db}"  # absolute path: sqlite:////abs/path
    os.environ.update(env or {})
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return db


def remove_sqlite(db: Path) -> None:
    for suffix in _SQLITE_SIDE_FILES:
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def setup_django() -> None:
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def fresh_database(db_name: str, **configure_kwargs) -> Path:
    """Delete the benchmark's database, set Django up against it and run every migration."""
    db = configure(db_name, **configure_kwargs)
    BENCH_VAR_DIR.mkdir(parents=True, exist_ok=True)
    remove_sqlite(db)
    setup_django()
    migrate()
    return db


def sqlite_checkpoint() -> None:
    """Fold the WAL back into the main file, as a quiet production database would be."""
    from django.db import connection

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def file_size_mb(path: Path) -> float:
    return sum(Path(f"{path}{s}").stat().st_size for s in _SQLITE_SIDE_FILES if Path(f"{path}{s}").exists()) / 2**20


# --- Memory and time -----------------------------------------------------------------------


def _proc_status_mb(field: str) -> float | None:
    """A ``VmXXX:`` line of /proc/self/status in MiB, or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """Current resident set size of this process, in MiB."""
    current = _proc_status_mb("VmRSS")
    return current if current is not None else ru_maxrss_mb()


def peak_rss_mb() -> float:
    """Peak resident set size of this process (since exec, or since :func:`reset_peak_rss`), in MiB.

    Linux's VmHWM. Prefer it to ``ru_maxrss`` in a child process: see :func:`ru_maxrss_mb`.
    """
    peak = _proc_status_mb("VmHWM")
    return peak if peak is not None else ru_maxrss_mb()


def ru_maxrss_mb() -> float:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in MiB (KiB on Linux, bytes on macOS).

    Caution: on Linux a process started by ``subprocess`` (vfork + exec) inherits its parent's
    high-water mark at exec, so in a child this is at least the parent's peak RSS.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def reset_peak_rss() -> bool:
    """Restart :func:`peak_rss_mb` from the current RSS (Linux >= 4.0); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Elapsed:
    seconds: float = 0.0


@contextmanager
def stopwatch():
    """``with stopwatch() as t: ...`` then ``t.seconds`` (monotonic, high resolution)."""
    elapsed = Elapsed()
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.seconds = time.perf_counter() - start


# --- Processes -----------------------------------------------------------------------------


def run_python(args: Sequence[str], *, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run this interpreter with ``args`` from the project root, inheriting the environment."""
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=os.environ.copy(), timeout=timeout, check=False)


# --- Reporting -----------------------------------------------------------------------------


def machine_info() -> dict:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    try:
        import sqlite3

        import django

        info["django"] = django.get_version()
        info["sqlite"] = sqlite3.sqlite_version
    except ImportError:
        pass
    return info


def check_target(name: str, value: float, *, at_least: float | None = None, below: float | None = None) -> dict:
    """One target, reported as PASS or FAIL (never asserted)."""
    if at_least is not None:
        return {"target": name, "value": value, "rule": f">= {at_least:g}", "pass": value >= at_least}
    if below is not None:
        return {"target": name, "value": value, "rule": f"< {below:g}", "pass": value < below}
    raise ValueError("give at_least or below")


def print_table(rows: Iterable[Sequence], *, header: Sequence[str] | None = None) -> None:
    rows = [[str(c) for c in row] for row in rows]
    if header:
        rows.insert(0, [str(c) for c in header])
    if not rows:
        return
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(max(len(r) for r in rows))]
    for n, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if header and n == 0:
            print("  ".join("-" * w for w in widths))


def write_results(name: str, data: dict) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "finished_at": datetime.now(UTC).isoformat(timespec="seconds"), **data}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


# --- Floors --------------------------------------------------------------------------------


class NullSink:
    """A file that keeps nothing: what ``csv.writer`` writes to in a floor measurement."""

    def write(self, text: str) -> int:
        return len(text)


def csv_floor(querysets: Sequence, *, chunk_size: int = 2000) -> dict:
    """The floor of a CSV download: each queryset's SQL run on the driver's cursor, every row
    fetched (``fetchmany``) and written with ``csv.writer`` to a :class:`NullSink`, no escaping,
    no per-row Python of ours. Returns rows, seconds and CPU seconds (this thread).

    The SQL is the queryset's own (its compiler's ``as_sql``), so the floor reads what the
    download reads: the same tables, columns, filters and order.
    """
    import csv

    from django.db import connections

    rows = 0
    writer = csv.writer(NullSink())
    start, cpu_start = time.perf_counter(), time.process_time()
    for queryset in querysets:
        sql, params = queryset.query.get_compiler(queryset.db).as_sql()
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(sql, params)
            while chunk := cursor.fetchmany(chunk_size):
                writer.writerows(chunk)
                rows += len(chunk)
    return {"rows": rows, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu_start}
