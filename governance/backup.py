"""Backing up and restoring the portal's database, for both profiles.

SQLite runs in WAL mode: the newest committed pages may still sit in ``portal.sqlite3-wal``, so a
plain copy of the database file can miss them or catch a half-written page. The backup goes
through SQLite's online backup API instead (``sqlite3.Connection.backup``), which copies a
consistent snapshot while the portal keeps writing, into a single self-contained file.

PostgreSQL: ``pg_dump --format=custom`` (one consistent snapshot, taken without blocking writers)
and ``pg_restore`` into an empty or cleaned database, in one transaction.

Both check what they produced: the SQLite copy passes ``PRAGMA integrity_check`` and its audit
chain verifies; a PostgreSQL dump must be readable by ``pg_restore --list``; a restored database's
audit chain is verified before the restore reports success.
"""

import os
import shutil
import sqlite3
import subprocess
import uuid
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connections

from governance.audit.verify import ChainReport, verify_chain


class BackupError(Exception):
    """The backup or restore did not happen, or did not check out."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    vendor: str
    size: int
    audit: ChainReport | None = None  # SQLite: the copy's chain, verified
    dump_entries: int = 0  # PostgreSQL: entries in the dump's table of contents


@dataclass(frozen=True)
class RestoreResult:
    target: str
    vendor: str
    audit: ChainReport


def database_backup(*, out: Path, using: str = "default") -> BackupResult:
    """Write a backup of database ``using`` to ``out`` (never overwritten), and check it."""
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} already exists; choose a new file name.")
    out.parent.mkdir(parents=True, exist_ok=True)
    connection = connections[using]
    if connection.vendor == "sqlite":
        return _sqlite_backup(Path(connection.settings_dict["NAME"]), out, using)
    if connection.vendor == "postgresql":
        return _pg_backup(connection.settings_dict, out)
    raise BackupError(f"No backup procedure for {connection.vendor}.")


def database_restore(
    *, source: Path, target: str | None = None, force: bool = False, create: bool = False, using: str = "default"
) -> RestoreResult:
    """Restore ``source`` into ``target`` (SQLite: a file path; PostgreSQL: a database name), by default the
    configured database. A target that already holds tables is only overwritten with ``force``. Stop the
    web server and the task cluster first when the target is the live database."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} is not a file.")
    connection = connections[using]
    if connection.vendor == "sqlite":
        destination = Path(target or connection.settings_dict["NAME"])
        _sqlite_restore(source, destination, force=force)
        with _database_alias(using, str(destination)) as alias:
            return RestoreResult(str(destination), "sqlite", verify_chain(using=alias))
    if connection.vendor == "postgresql":
        name = target or connection.settings_dict["NAME"]
        _pg_restore(connection.settings_dict, source, name, force=force, create=create, using=using)
        with _database_alias(using, name) as alias:
            return RestoreResult(name, "postgresql", verify_chain(using=alias))
    raise BackupError(f"No restore procedure for {connection.vendor}.")


# --- SQLite ----------------------------------------------------------------------------------


def _sqlite_backup(source: Path, out: Path, using: str) -> BackupResult:
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with closing(sqlite3.connect(source, timeout=20)) as src, closing(sqlite3.connect(temporary)) as dst:
            # One step (pages=-1): the whole copy is read under one read transaction, so it is one
            # consistent snapshot; writers go on meanwhile (WAL readers never block the writer).
            src.backup(dst)
            # A backup is one self-contained file: no -wal beside it to lose.
            dst.execute("PRAGMA journal_mode=DELETE")
            _sqlite_integrity(dst, temporary)
        _fsync(temporary)
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    with _database_alias(using, str(out)) as alias:
        report = verify_chain(using=alias)
    if not report.ok:
        raise BackupError(
            f"{out} was written, but its audit chain does not verify at #{report.first_bad_seq}: {report.problem}."
        )
    return BackupResult(out, "sqlite", out.stat().st_size, audit=report)


def _sqlite_restore(source: Path, destination: Path, *, force: bool) -> None:
    with closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src:
        _sqlite_integrity(src, source)
        if destination.exists() and not force:
            with closing(sqlite3.connect(destination, timeout=20)) as existing:
                tables = existing.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if tables:
                raise BackupError(f"{destination} already holds {tables} tables; pass --force to overwrite it.")
        destination.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(destination, timeout=20)) as dst:
            # Page by page into the destination, inside its own write transaction and journal: a crash
            # mid-restore leaves the old database, and its -wal/-shm files stay consistent with it.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")  # the portal's mode (settings.py)
            _sqlite_integrity(dst, destination)


def _sqlite_integrity(db: sqlite3.Connection, path: Path) -> None:
    try:
        result = db.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a usable SQLite database: {exc}") from exc
    if result != "ok":
        raise BackupError(f"{path} fails SQLite's integrity check: {result}")


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


# --- PostgreSQL ------------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not on PATH: install the PostgreSQL client tools (the server's major version or newer)."
        )
    return path


def _pg_env(settings_dict: dict, database: str) -> dict:
    """libpq's variables: the password never appears on a command line (visible in ``ps``)."""
    env = {**os.environ, "PGDATABASE": database}
    for variable, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"), ("PGPASSWORD", "PASSWORD")):
        if settings_dict.get(key):
            env[variable] = str(settings_dict[key])
    options = settings_dict.get("OPTIONS") or {}
    for variable, key in (("PGSSLMODE", "sslmode"), ("PGSSLROOTCERT", "sslrootcert")):
        if options.get(key):
            env[variable] = str(options[key])
    return env


def _run(command: list[str], env: dict, what: str) -> subprocess.CompletedProcess:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{what} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return result


def _pg_backup(settings_dict: dict, out: Path) -> BackupResult:
    env = _pg_env(settings_dict, settings_dict["NAME"])
    temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        _run([_pg_tool("pg_dump"), "--format=custom", f"--file={temporary}"], env, "pg_dump")
        listing = _run([_pg_tool("pg_restore"), "--list", str(temporary)], env, "pg_restore --list")
        _fsync(temporary)
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    entries = sum(1 for line in listing.stdout.splitlines() if line and not line.startswith(";"))
    return BackupResult(out, "postgresql", out.stat().st_size, dump_entries=entries)


def _pg_restore(settings_dict: dict, source: Path, name: str, *, force: bool, create: bool, using: str) -> None:
    if create:
        _pg_create_database(name, using)
    with _database_alias(using, name) as alias:
        tables = connections[alias].introspection.table_names()
    if tables and not force:
        raise BackupError(f"Database {name} already holds {len(tables)} tables; pass --force to overwrite it.")
    command = [
        _pg_tool("pg_restore"),
        f"--dbname={name}",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-acl",
        "--single-transaction",
        "--exit-on-error",
        str(source),
    ]
    _run(command, _pg_env(settings_dict, name), "pg_restore")


def _pg_create_database(name: str, using: str) -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone():
            raise BackupError(f"Database {name} already exists; leave out --create to restore into it.")
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")


@contextmanager
def _database_alias(using: str, name: str):
    """A short-lived connection, in this thread only, to another file or database with ``using``'s settings.

    Registered as a connection object, not in ``settings.DATABASES``: nothing else (other threads, the
    router) can pick it up, and the ORM reaches it through ``.using(alias)`` as usual.
    """
    base = connections[using]
    options = dict(base.settings_dict.get("OPTIONS") or {})
    options.pop("init_command", None)  # SQLite: no PRAGMA journal_mode=WAL on a backup file
    if base.vendor == "postgresql":
        options["pool"] = False  # one short check, no pool left behind
    alias = f"portal_backup_{uuid.uuid4().hex[:8]}"
    wrapper = base.__class__({**base.settings_dict, "NAME": name, "OPTIONS": options}, alias)
    connections[alias] = wrapper
    try:
        yield alias
    finally:
        wrapper.close()
        del connections[alias]
