"""Load benchmark on loopback: the public access pages and the accounts list under concurrent users.

    .venv/bin/python bench/bench_load.py                            # both profiles (about 5 minutes)
    .venv/bin/python bench/bench_load.py --profile postgres         # one profile
    .venv/bin/python bench/bench_load.py --duration 10 --users 50   # quicker
    .venv/bin/python bench/bench_load.py --scenarios public --no-saturation  # the target's runs only

For each profile (``sqlite``: the embedded default; ``postgres``: PostgreSQL on 127.0.0.1:5432,
database ``bench_load``, with Redis db 5 as ``REDIS_URL``):

1. A child process builds a fresh database (SQLite file deleted, or the PostgreSQL database
   dropped and created; Redis db 5 flushed), migrates, collects the static files (production
   serves the admin's through whitenoise's manifest storage) and writes the mirror with the
   shared generator (``bench/mirror.py``). On top of it: a suspend policy allowing self-service
   restore, "done" enforcements (with their ``enforcement.executed`` audit events) for some
   suspended accounts and a signed restore link for each, an admin with a password and one
   session per simulated admin.
2. Real gunicorn (``governance.wsgi``, gthread workers, the project's ``governance/gunicorn_conf.py``
   when it exists, 4 workers x 2 threads by default) with production settings: DEBUG off,
   secret key and audit key given, ALLOWED_HOSTS 127.0.0.1, SSL redirect off (no TLS on
   loopback), ``PORTAL_TRUSTED_PROXY_COUNT=1`` (deployed behind one reverse proxy: see
   "Rate limits" below), email to the dummy backend.
3. Simulated users in two load-generator processes (threads, one ``requests.Session`` each),
   closed loop with a think time between requests, for a bounded time per run:
   - ``public``: each iteration is a new visitor. A link holder GETs the restore page of a valid
     link and POSTs the form with its CSRF token (one access request, auto-approved, fulfilment
     queued); a visitor without a link GETs ``/access/`` and POSTs an email address (a mirrored
     one or an unknown one); a visitor with a stale link GETs an unknown token (410).
   - ``admin``: logged-in admins GET the accounts changelist with filters, search, sorting and
     pages.
   At 10 and 50 users each, plus the public pages at 50 users with no think time (saturation),
   after a short discarded warm-up of each scenario.
4. A results table with requests/s, p50/p95/p99/max latency and errors per run, the target
   PASS/FAIL (never asserted), checks on the database afterwards (one access request per
   accepted POST, the audit chain intact) and ``bench/results/load_<profile>.json``.

Rate limits. The public pages count every request per client IP (30 an hour per page), per
email address and per link token, in the database. From loopback every request comes from
127.0.0.1, so a real crowd cannot be reproduced without telling the app who the client is: the
server runs as deployed behind one reverse proxy (``PORTAL_TRUSTED_PROXY_COUNT=1``), and the
generator plays that proxy, sending ``X-Forwarded-For: <client address>`` with a different
address for every visitor. Each visitor stays far below every limit (at most 2 requests per
page, one per token and email), so a 429 is an error here: the limiter is exercised on every
request (its upsert runs) but is not weakened.
"""

import argparse
import ipaddress
import json
import math
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` and the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common

PROFILES = ("sqlite", "postgres")
SQLITE_DB_NAME = "load"
PG_DATABASE = "bench_load"
PG_ADMIN_DSN = "postgresql://portal:portal@127.0.0.1:5432/postgres"
PG_URL = f"postgres://portal:portal@127.0.0.1:5432/{PG_DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/5"
VAR_DIR = common.BENCH_VAR_DIR / "load"  # PORTAL_VAR_DIR: collected static files, gunicorn logs
DJANGO_ENV = {
    "DJANGO_SETTINGS_MODULE": "governance.settings",
    "DJANGO_DEBUG": "false",
    "DJANGO_SECRET_KEY": "bench-load-secret-key-not-for-production-0123456789abcdef",
    "AUDIT_HMAC_KEY": "bench-load-audit-key",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    # Plain HTTP on loopback: no redirect to https. Cookies stay Secure (the client sends them back
    # to 127.0.0.1 as browsers do, a loopback origin being a secure context).
    "DJANGO_SECURE_SSL_REDIRECT": "false",
    # As deployed behind one reverse proxy: the client address is the last X-Forwarded-For entry.
    "PORTAL_TRUSTED_PROXY_COUNT": "1",
    "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
    "LOG_LEVEL": "WARNING",
    "PORTAL_VAR_DIR": str(VAR_DIR),
}
GUNICORN_CONF = common.ROOT / "governance" / "gunicorn_conf.py"
ADMIN_USERNAME = "load-admin"
ADMIN_PASSWORD = "load-admin-password-7f3a9c"  # noqa: S105 (a throwaway account in a throwaway database)
TARGET_P95_MS = 300.0
TARGET_USERS = 50
REQUEST_TIMEOUT = 30.0
GENERATOR_PROCESSES = 2
JUSTIFICATION = "Back from parental leave, I need Jira for the Q3 release."
_CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')

# What each request must answer: status and a piece of the page (anything else is an error).
EXPECT = {
    "restore page (valid link)": (200, b"Give me my access back"),
    "restore POST": (200, b"Your request was"),
    "request-link form": (200, b"Ask for your Atlassian access back"),
    "request-link POST": (200, b"Check your email"),
    "unknown token": (410, b"This link no longer works"),
    "accounts list": (200, b'id="result_list"'),
}


# --- Preparing a profile (child process) -------------------------------------------------------


def profile_env(profile: str, port: int) -> dict[str, str]:
    env = {**DJANGO_ENV, "PORTAL_BASE_URL": f"http://127.0.0.1:{port}"}
    if profile == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{common.sqlite_path(SQLITE_DB_NAME)}"
    else:
        env["DATABASE_URL"] = PG_URL
        env["REDIS_URL"] = REDIS_URL
    return env


def _mirror_generator():
    """The shared mirror generator: ``bench/mirror.py``, or where it lived before (bench_import_export)."""
    try:
        from bench.mirror import generate_mirror
    except ImportError:
        from bench.bench_import_export import generate_mirror
    return generate_mirror


def _fresh_postgres() -> None:
    import psycopg
    import redis

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        # WITH (FORCE): a gunicorn left over from an interrupted run must not keep the database alive.
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DATABASE}")
    redis.Redis.from_url(REDIS_URL).flushdb()


def prepare(profile: str, accounts: int, links: int, sessions: int, seed: int) -> dict:
    timings = {}
    with common.stopwatch() as t:
        if profile == "sqlite":
            common.fresh_database(SQLITE_DB_NAME)
        else:
            _fresh_postgres()
            common.setup_django()
            common.migrate()
    timings["database_and_migrate_s"] = t.seconds

    from django.core.management import call_command

    with common.stopwatch() as t:
        call_command("collectstatic", interactive=False, verbosity=0)
    timings["collectstatic_s"] = t.seconds

    with common.stopwatch() as t:
        mirror = _mirror_generator()(accounts)
    timings["mirror_s"] = t.seconds

    with common.stopwatch() as t:
        public = _seed_links(links, seed)
    timings["links_s"] = t.seconds

    with common.stopwatch() as t:
        admin = _seed_admin(sessions)
    timings["admin_s"] = t.seconds

    from django.db import connection

    with common.stopwatch() as t:
        # PostgreSQL: statistics as autovacuum would have them on a database in use (a fresh bulk
        # load has none, and the planner then guesses). SQLite: the WAL folded back in.
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        common.sqlite_checkpoint()
    timings["analyze_s"] = t.seconds
    return {"mirror": mirror, "timings": timings, **public, **admin}


def _seed_links(links: int, seed: int) -> dict:
    """A suspend policy with self-service restore and ``links`` accounts it suspended."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Account, AccountStatus, Organization, Product
    from governance.audit.models import AuditAction
    from governance.audit.record import Actor, record_events
    from policies.links import make_token
    from policies.models import Enforcement, EnforcementStatus, InactivityPolicy, PolicyMode

    rng = random.Random(seed)
    now = timezone.now()
    org = Organization.objects.get()
    policy = InactivityPolicy.objects.create(
        organization=org,
        name="Jira 90 days (load bench)",
        trigger="inactive",
        trigger_days=90,
        action="suspend",
        warning_days=[14],
        mode=PolicyMode.ENFORCE,
        self_service_restore=True,
    )
    policy.products.set(Product.objects.filter(organization=org, key="jira-software"))
    candidates = list(
        Account.objects.filter(organization=org, email__isnull=False).order_by("pk").values_list("pk", "email")
    )
    if links > len(candidates):
        raise SystemExit(f"--links {links} is more than the {len(candidates)} accounts with an email address")
    chosen = rng.sample(candidates, links)
    executed = {pk: now - timedelta(days=rng.randint(1, 25), seconds=rng.randint(0, 86399)) for pk, _ in chosen}
    with transaction.atomic():
        # The policy suspended them: the account's status is what the action left (auto-approvable).
        Account.objects.filter(pk__in=list(executed)).update(status=AccountStatus.SUSPENDED)
        rows = [
            Enforcement(
                policy=policy,
                account_id=pk,
                status=EnforcementStatus.DONE,
                action="suspend",
                reason="No Jira Software activity for 90 days (bench)",
                inactive_since=when - timedelta(days=90),
                due_at=when,
                warned_at=when - timedelta(days=14),
                warnings_sent=[14],
                executed_at=when,
                removed={"status": "suspended"},
            )
            for pk, when in executed.items()
        ]
        Enforcement.objects.bulk_create(rows, batch_size=1000)
    enforcements = list(Enforcement.objects.filter(policy=policy).select_related("account"))
    actor = Actor.system("bench_load")
    for start in range(0, len(enforcements), 1000):
        record_events(
            [
                dict(
                    actor=actor,
                    action=AuditAction.ENFORCEMENT_EXECUTED,
                    target=e,
                    after={"action": "suspend", "removed": e.removed},
                    organization=org.org_id,
                )
                for e in enforcements[start : start + 1000]
            ]
        )
    tokens = [make_token(e) for e in enforcements]
    rng.shuffle(tokens)
    # Emails for /access/: two in three mirrored (whether a link goes out is decided in the task),
    # one in three unknown. Every visitor enters a different address.
    known = [email for _, email in candidates]
    rng.shuffle(known)
    return {"tokens": tokens, "known_emails": known, "policy": policy.pk}


def _seed_admin(sessions: int) -> dict:
    """A portal admin with a password (one real login is checked), and one session per simulated
    admin created as ``Client.force_login`` does: 50 password logins would mostly measure PBKDF2."""
    from django.conf import settings
    from django.contrib.auth.models import Group as Role
    from django.contrib.auth.models import User
    from django.test import Client

    from accounts.models import Group, Product
    from governance.roles import PORTAL_ADMINS

    user = User.objects.create_user(ADMIN_USERNAME, password=ADMIN_PASSWORD, is_staff=True)
    user.groups.add(Role.objects.get(name=PORTAL_ADMINS))
    cookies = []
    for _ in range(sessions):
        client = Client()
        client.force_login(user)
        cookies.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    groups = list(Group.objects.order_by("pk").values_list("pk", flat=True)[:50])
    return {
        "sessions": cookies,
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "products": list(Product.objects.order_by("pk").values_list("pk", flat=True)),
        "groups": groups,
    }


def verify_database() -> dict:
    """After the runs: what the accepted POSTs left behind, and the audit chain."""
    from django.db import connection

    from governance.audit.verify import verify_chain
    from governance.ratelimit_models import RateLimitCounter
    from policies.models import AccessRequest

    report = verify_chain()
    return {
        "vendor": connection.vendor,
        "access_requests": AccessRequest.objects.count(),
        "access_requests_by_status": dict(Counter(AccessRequest.objects.values_list("status", flat=True))),
        "rate_limit_counters": RateLimitCounter.objects.count(),
        "rate_limit_max_count": max(RateLimitCounter.objects.values_list("count", flat=True), default=0),
        "audit_chain_ok": report.ok,
        "audit_events": report.checked,
        "audit_problem": report.problem,
    }


def in_child(args: list[str], env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        saved = os.environ.copy()
        os.environ.update(env)
        try:
            proc = common.run_python(["-m", "bench.bench_load", *args, "--result-file", str(result_file)])
        finally:
            os.environ.clear()
            os.environ.update(saved)
        if proc.returncode != 0 or not result_file.exists():
            raise SystemExit(f"the child {args} failed (exit {proc.returncode})")
        return json.loads(result_file.read_text())


# --- gunicorn -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """``gunicorn governance.wsgi`` in its own process group, logs to a file."""

    def __init__(self, env: dict[str, str], port: int, workers: int, threads: int, log: Path):
        self.port, self.workers, self.threads, self.log = port, workers, threads, log
        self.base_url = f"http://127.0.0.1:{port}"
        self.command = [str(Path(sys.executable).with_name("gunicorn"))]
        if GUNICORN_CONF.exists():
            # The project's production settings (timeouts, keep-alive, worker recycling, access log
            # without query strings or tokens); the command line below overrides workers and threads.
            self.command.append("--config=python:governance.gunicorn_conf")
        self.command += [
            "governance.wsgi",
            f"--workers={workers}",
            f"--threads={threads}",  # more than one: the gthread worker
            f"--bind=127.0.0.1:{port}",
            "--error-logfile=-",
        ]
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = log.open("w")
        self.proc = subprocess.Popen(
            self.command,
            cwd=common.ROOT,
            env={**os.environ, **env},
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> float:
        import requests

        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}); see {self.log}")
            try:
                if requests.get(f"{self.base_url}/access/", timeout=2).status_code == 200:
                    return time.perf_counter() - start
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s; see {self.log}")

    def worker_pids(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:  # ppid
                pids.append(int(stat.parent.name))
        return pids

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its live workers."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in [self.proc.pid, *self.worker_pids()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return total

    def stop(self) -> dict:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_handle.close()
        text = self.log.read_text(errors="replace")
        return {
            "exit_code": self.proc.returncode,
            "tracebacks": text.count("Traceback (most recent call last)"),
            "worker_timeouts": text.count("WORKER TIMEOUT"),
            "error_lines": sum(1 for line in text.splitlines() if " ERROR " in line or "[ERROR]" in line),
            "log": str(self.log.relative_to(common.ROOT)),
        }


# --- The simulated users (load-generator processes) ----------------------------------------------


def _loopback_cookies(session) -> None:
    """Let Secure cookies go back to 127.0.0.1 over plain HTTP, as browsers do for a loopback origin
    (a secure context). requests copies the jar into a default-policy jar for every request, so a
    custom cookie policy would be lost: the flag is cleared on the stored cookies instead."""
    for cookie in session.cookies:
        cookie.secure = False


def _session():
    import requests

    session = requests.Session()
    # Persistent connections, as a browser keeps them; one pool per simulated user.
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    return session


class _User(threading.Thread):
    def __init__(self, spec: dict, index: int, tokens: deque, emails: deque, session_key: str | None):
        super().__init__(daemon=True)
        self.spec, self.index = spec, index
        self.tokens, self.emails, self.session_key = tokens, emails, session_key
        self.rng = random.Random(spec["seed"] * 1000 + index)
        self.records: list[tuple] = []
        self.used_tokens: list[str] = []
        self.used_emails: list[str] = []
        self.tokens_exhausted = 0
        self.visitors = 0
        self.base = spec["base_url"]
        self.http = _session()

    # -- plumbing --------------------------------------------------------------------------------
    def _live(self) -> bool:
        return time.time() < self.spec["deadline"]

    def _think(self) -> None:
        low, high = self.spec["think"]
        if high > 0:
            time.sleep(min(self.rng.uniform(low, high), max(0.0, self.spec["deadline"] - time.time())))

    def _request(self, name: str, method: str, path: str, **kwargs):
        """One timed request; returns the response when it is what the page should answer."""
        import requests

        expected_status, marker = EXPECT[name]
        start = time.time()
        t0 = time.perf_counter()
        error, status, response = "", 0, None
        try:
            response = self.http.request(method, self.base + path, timeout=REQUEST_TIMEOUT, **kwargs)
            _loopback_cookies(self.http)
            status = response.status_code
            if status != expected_status:
                error = f"status {status}"
            elif marker not in response.content:
                error = "unexpected page"
        except requests.RequestException as exc:
            error = type(exc).__name__
        latency = time.perf_counter() - t0
        self.records.append((name, start - self.spec["start_at"], latency, status, error))
        return None if error else response

    def _new_visitor(self) -> dict:
        """A new person: no cookies, an address of their own (see "Rate limits" in the docstring)."""
        self.http.cookies.clear()
        self.visitors += 1
        n = self.spec["ip_base"] + self.index * 4096 + self.visitors
        return {"X-Forwarded-For": str(ipaddress.IPv4Address(n))}

    # -- scenarios -------------------------------------------------------------------------------
    def run(self) -> None:
        delay = self.spec["start_at"] - time.time()
        if delay > 0:
            time.sleep(delay)
        # Spread the first requests over one think time so that users do not move in lockstep.
        time.sleep(self.rng.uniform(0, self.spec["think"][1]))
        if self.spec["scenario"] == "public":
            self._public()
        else:
            self._admin()

    def _public(self) -> None:
        personas = ["link", "email", "link", "email", "stale"]
        step = self.rng.randrange(len(personas))
        while self._live():
            persona = personas[step % len(personas)]
            step += 1
            token = None
            if persona == "link":
                try:
                    token = self.tokens.pop()
                except IndexError:
                    self.tokens_exhausted += 1
                    persona = "email"
            headers = self._new_visitor()
            if persona == "link":
                self.used_tokens.append(token)
                path = f"/access/restore/{token}/"
                page = self._request("restore page (valid link)", "GET", path, headers=headers)
                if page is None or not self._live():
                    continue
                self._think()
                csrf = _CSRF_INPUT.search(page.content)
                # Origin: null is what browsers send under the page's Referrer-Policy: no-referrer.
                self._request(
                    "restore POST",
                    "POST",
                    path,
                    data={
                        "csrfmiddlewaretoken": csrf.group(1).decode() if csrf else "",
                        "justification": JUSTIFICATION,
                    },
                    headers={**headers, "Origin": "null"},
                )
            elif persona == "email":
                page = self._request("request-link form", "GET", "/access/", headers=headers)
                if page is None or not self._live():
                    continue
                self._think()
                csrf = _CSRF_INPUT.search(page.content)
                try:
                    email = self.emails.pop()
                    self.used_emails.append(email)
                except IndexError:
                    email = f"visitor{self.spec['ip_base']}.{self.index}.{self.visitors}@unknown.example"
                self._request(
                    "request-link POST",
                    "POST",
                    "/access/",
                    data={"csrfmiddlewaretoken": csrf.group(1).decode() if csrf else "", "email": email},
                    headers={**headers, "Origin": "null"},
                )
            else:
                bogus = f"{self.rng.getrandbits(128):032x}:{self.rng.getrandbits(64):x}"
                self._request("unknown token", "GET", f"/access/restore/{bogus}/", headers=headers)
            self._think()

    def _admin(self) -> None:
        self.http.cookies.set(self.spec["session_cookie"], self.session_key, domain="127.0.0.1", path="/")
        urls = self.spec["admin_urls"]
        step = self.rng.randrange(len(urls))
        while self._live():
            self._request("accounts list", "GET", urls[step % len(urls)])
            step += 1
            self._think()


def generator_process(spec: dict) -> dict:
    """One load-generator process: ``spec['users']`` threads until the deadline."""
    cpu = os.times()
    # One pool of links and addresses per process, shared by its users (deque.pop is thread-safe):
    # the GIL does not share turns evenly, and a user with its own slice could run out early.
    tokens, emails = deque(spec["tokens"]), deque(spec["emails"])
    sessions = spec.get("sessions") or [None]
    users = [_User(spec, i, tokens, emails, sessions[i % len(sessions)]) for i in range(spec["users"])]
    for user in users:
        user.start()
    for user in users:
        user.join(max(1.0, spec["deadline"] - time.time() + REQUEST_TIMEOUT + 10))
    after = os.times()
    return {
        "records": [r for u in users for r in u.records],
        "used_tokens": [t for u in users for t in u.used_tokens],
        "used_emails": [e for u in users for e in u.used_emails],
        "tokens_exhausted": sum(u.tokens_exhausted for u in users),
        "cpu_seconds": (after.user - cpu.user) + (after.system - cpu.system),
        "alive_after_join": sum(u.is_alive() for u in users),
    }


# --- Driving a run (parent) ----------------------------------------------------------------------


def admin_urls(prepared: dict) -> list[str]:
    """The changelist as admins use it: filters, search, sorting, pages (10,000-row capped count)."""
    base = "/admin/accounts/account/"
    products, groups = prepared["products"], prepared["groups"]
    return [
        base,
        f"{base}?status=active",
        f"{base}?status=suspended&p=2",
        f"{base}?inactivity=gt180",
        f"{base}?inactivity=never&managed=false",
        f"{base}?product={products[0]}&product_inactive_days=90",
        f"{base}?product={products[1]}&p=5",
        f"{base}?group={groups[3]}",
        f"{base}?q=ann",
        f"{base}?o=6",  # sorted by last active
        f"{base}?p=20",
        f"{base}?billable=true&account_type=atlassian&p=3",
    ]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(records: list[tuple], elapsed: float) -> dict:
    latencies = sorted(r[2] for r in records)
    errors = [r for r in records if r[4]]
    return {
        "requests": len(records),
        "errors": len(errors),
        "requests_per_s": len(records) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
        "statuses": dict(Counter(str(r[3]) for r in records)),
        "error_kinds": dict(Counter(f"{r[0]}: {r[4]}" for r in errors)),
    }


def drive(
    server: Gunicorn,
    prepared: dict,
    pool: dict,
    *,
    scenario: str,
    users: int,
    duration: float,
    think: tuple[float, float],
    run_index: int,
    seed: int,
) -> dict:
    processes = max(1, min(GENERATOR_PROCESSES, users))
    start_at = time.time() + 2.0  # every generator process is up and waiting by then
    specs = []
    for p in range(processes):
        share = len(range(p, users, processes))
        specs.append(
            {
                "scenario": scenario,
                "users": share,
                "base_url": server.base_url,
                "start_at": start_at,
                "deadline": start_at + duration,
                "think": think,
                "seed": seed + run_index * 100 + p,
                # Client addresses never repeat within a profile (10.x.y.z, one block per process and run).
                "ip_base": int(ipaddress.IPv4Address("10.0.0.0")) + (run_index * GENERATOR_PROCESSES + p) * 2**18,
                "tokens": pool["tokens"][p::processes] if scenario == "public" else [],
                "emails": pool["emails"][p::processes] if scenario == "public" else [],
                "sessions": prepared["sessions"][p::processes] if scenario == "admin" else [],
                "session_cookie": prepared["session_cookie"],
                "admin_urls": admin_urls(prepared),
            }
        )
    load_before = os.getloadavg()
    cpu_before = server.cpu_seconds()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as workers:
        results = workers.map(generator_process, specs, chunksize=1)  # one spec per process
    cpu_after = server.cpu_seconds()
    load_after = os.getloadavg()
    records = [r for res in results for r in res["records"]]
    used = {t for res in results for t in res["used_tokens"]}
    pool["tokens"] = [t for t in pool["tokens"] if t not in used]
    used_emails = {e for res in results for e in res["used_emails"]}
    pool["emails"] = [e for e in pool["emails"] if e not in used_emails]
    # Throughput over the measured window: from the common start to the last answer.
    elapsed = max((r[1] + r[2] for r in records), default=duration)
    by_name = defaultdict(list)
    for r in records:
        by_name[r[0]].append(r)
    summary = summarize(records, elapsed)
    return {
        "scenario": scenario,
        "users": users,
        "think_s": list(think),
        "duration_s": duration,
        "elapsed_s": elapsed,
        **summary,
        "per_request": {name: summarize(rs, elapsed) for name, rs in sorted(by_name.items())},
        "tokens_used": len(used),
        "tokens_exhausted": sum(res["tokens_exhausted"] for res in results),
        "generator_processes": processes,
        "generator_cpu_s": sum(res["cpu_seconds"] for res in results),
        "server_cpu_s": cpu_after - cpu_before,
        "server_cpu_ms_per_request": (cpu_after - cpu_before) / len(records) * 1000 if records else None,
        "users_still_running_after_join": sum(res["alive_after_join"] for res in results),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


def real_login(server: Gunicorn) -> dict:
    """One admin login through the login form (CSRF, password check, session), not part of a run."""
    s = _session()
    page = s.get(f"{server.base_url}/admin/login/?next=/admin/", timeout=REQUEST_TIMEOUT)
    _loopback_cookies(s)
    csrf = _CSRF_INPUT.search(page.content)
    t0 = time.perf_counter()
    answer = s.post(
        f"{server.base_url}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": csrf.group(1).decode() if csrf else "",
            "username": ADMIN_USERNAME,
            "password": ADMIN_PASSWORD,
            "next": "/admin/",
        },
        headers={"Origin": server.base_url},
        allow_redirects=False,
        timeout=REQUEST_TIMEOUT,
    )
    seconds = time.perf_counter() - t0
    _loopback_cookies(s)
    listed = s.get(f"{server.base_url}/admin/accounts/account/", timeout=REQUEST_TIMEOUT)
    return {
        "status": answer.status_code,
        "redirect": answer.headers.get("Location", ""),
        "seconds": seconds,
        "list_after_login": listed.status_code == 200 and b'id="result_list"' in listed.content,
        "ok": answer.status_code == 302 and listed.status_code == 200 and b'id="result_list"' in listed.content,
    }


def run_profile(profile: str, args) -> dict:
    port = free_port()
    env = profile_env(profile, port)
    public_runs = [(u, tuple(args.think)) for u in args.users]
    if args.saturation:
        public_runs.append((max(args.users), (0.0, 0.0)))
    sessions = max(args.users)
    print(f"[{profile}] preparing: {args.accounts:,} accounts, {args.links:,} restore links", flush=True)
    with common.stopwatch() as prep_time:
        prepared = in_child(
            [
                "--child",
                "prepare",
                "--profile",
                profile,
                "--accounts",
                str(args.accounts),
                "--links",
                str(args.links),
                "--sessions",
                str(sessions),
                "--seed",
                str(args.seed),
            ],
            env,
        )
    print(
        f"[{profile}] prepared in {prep_time.seconds:.1f} s: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in prepared["timings"].items()),
        flush=True,
    )
    rng = random.Random(args.seed)
    known = prepared["known_emails"]
    emails = [known[i] if i % 3 else f"nobody.{i}@unknown.example" for i in range(len(known))]
    rng.shuffle(emails)
    pool = {"tokens": list(prepared["tokens"]), "emails": emails}

    server = Gunicorn(env, port, args.workers, args.threads, VAR_DIR / f"gunicorn_{profile}.log")
    runs, login, warmup = [], None, None
    try:
        ready = server.wait_ready()
        workers_seen = len(server.worker_pids())
        print(f"[{profile}] gunicorn up in {ready:.1f} s, {workers_seen} workers x {args.threads} threads", flush=True)
        login = real_login(server)
        # Every worker imports the views, templates and opens its pool before anything is measured.
        warm = []
        for scenario in ("public", "admin"):
            warm.append(
                drive(
                    server,
                    prepared,
                    pool,
                    scenario=scenario,
                    users=8,
                    duration=args.warmup,
                    think=(0.0, 0.0),
                    run_index=len(warm),
                    seed=args.seed,
                )
            )
        warmup = warm
        index = len(warm)
        plan = [("public", u, think) for u, think in public_runs] if "public" in args.scenarios else []
        plan += [("admin", u, tuple(args.think)) for u in args.users] if "admin" in args.scenarios else []
        for scenario, users, think in plan:
            label = f"{scenario} x{users}" + (" (no think time)" if think[1] == 0 else "")
            print(f"[{profile}] {label}: {args.duration:.0f} s ...", end=" ", flush=True)
            result = drive(
                server,
                prepared,
                pool,
                scenario=scenario,
                users=users,
                duration=args.duration,
                think=think,
                run_index=index,
                seed=args.seed,
            )
            index += 1
            runs.append(result)
            print(
                f"{result['requests_per_s']:.0f} req/s, p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, "
                f"errors {result['errors']}, load {result['load_average_after'][0]:.1f}",
                flush=True,
            )
    finally:
        server_report = server.stop()
    verified = in_child(["--child", "verify", "--profile", profile], env)
    return {
        "profile": profile,
        "database": "PostgreSQL 15 (127.0.0.1:5432, bench_load) + Redis db 5" if profile == "postgres" else "SQLite",
        "gunicorn": {"command": " ".join(server.command[1:]), "workers": args.workers, "threads": args.threads},
        "prepared": {
            "timings": prepared["timings"],
            "mirror": prepared["mirror"],
            "links": len(prepared["tokens"]),
            "admin_sessions": len(prepared["sessions"]),
            "prepare_wall_s": prep_time.seconds,
        },
        "login": login,
        "warmup": warmup,
        "runs": runs,
        "server": server_report,
        "database_after": verified,
    }


def checks_for(result: dict) -> dict:
    runs = result["runs"]
    posts = [r["per_request"].get("restore POST") for r in [*runs, *(result["warmup"] or [])]]
    accepted = sum(p["requests"] - p["errors"] for p in posts if p)
    db = result["database_after"]
    checks = {
        "real_login_ok": bool(result["login"] and result["login"]["ok"]),
        "no_server_tracebacks": result["server"]["tracebacks"] == 0 and result["server"]["worker_timeouts"] == 0,
        # Warm-up POSTs count too: every accepted restore POST left exactly one access request.
        "one_access_request_per_accepted_post": db["access_requests"] == accepted,
        "audit_chain_ok": db["audit_chain_ok"],
        # Every simulated visitor is a different person: no counter should come near a limit.
        "visitors_far_below_limits": db["rate_limit_max_count"] <= 2,
        "no_rate_limit_refusals": all("429" not in r["statuses"] for r in [*runs, *(result["warmup"] or [])]),
        "links_never_ran_out": all(r["tokens_exhausted"] == 0 for r in runs),
    }
    checks["all"] = all(checks.values())
    return checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=[*PROFILES, "both"], default="both")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run (default 15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of discarded warm-up per scenario")
    parser.add_argument(
        "--users", default="10,50", help="concurrent users, comma-separated (default 10,50; the target is at 50)"
    )
    parser.add_argument(
        "--think",
        default="0.5,1.5",
        help="think time between a user's requests, uniform in MIN,MAX seconds (default 0.5,1.5)",
    )
    parser.add_argument(
        "--no-saturation", dest="saturation", action="store_false", help="skip the public run with no think time"
    )
    parser.add_argument(
        "--scenarios", default="public,admin", help="which scenarios to run, comma-separated (default public,admin)"
    )
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts in the mirror (default 10,000)")
    parser.add_argument("--links", type=int, default=2000, help="restore links (one per simulated link holder)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--threads", type=int, default=2, help="threads per gunicorn worker (default 2)")
    parser.add_argument("--seed", type=int, default=20260815)
    parser.add_argument("--child", choices=["prepare", "verify"], help=argparse.SUPPRESS)
    parser.add_argument("--sessions", type=int, default=50, help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        if args.profile == "sqlite":
            common.configure(SQLITE_DB_NAME)
        if args.child == "prepare":
            result = prepare(args.profile, args.accounts, args.links, args.sessions, args.seed)
        else:
            common.setup_django()
            result = verify_database()
        args.result_file.write_text(json.dumps(result, default=str))
        return 0

    args.users = sorted({int(u) for u in args.users.split(",") if u.strip()})
    args.think = tuple(float(x) for x in args.think.split(","))
    args.scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    if not args.scenarios <= {"public", "admin"}:
        parser.error("--scenarios takes public and/or admin")
    profiles = PROFILES if args.profile == "both" else (args.profile,)
    status = 0
    for profile in profiles:
        result = run_profile(profile, args)
        checks = checks_for(result)
        targets = []
        judged = [r for r in result["runs"] if r["scenario"] == "public" and r["users"] == TARGET_USERS]
        judged = [r for r in judged if r["think_s"][1] > 0] or judged
        if profile == "postgres" and judged:
            run = judged[0]
            targets.append(common.check_target(f"public pages, {TARGET_USERS} users: errors", run["errors"], below=1))
            targets.append(
                common.check_target(f"public pages, {TARGET_USERS} users: p95 ms", run["p95_ms"], below=TARGET_P95_MS)
            )
        report(result, checks, targets)
        path = common.write_results(
            f"load_{profile}",
            {
                "machine": common.machine_info()
                | {"postgres_server": _pg_version() if profile == "postgres" else None},
                "command": " ".join([".venv/bin/python", "bench/bench_load.py", *(argv or sys.argv[1:])]),
                "options": {
                    "duration_s": args.duration,
                    "warmup_s": args.warmup,
                    "users": args.users,
                    "think_s": list(args.think),
                    "saturation_run": args.saturation,
                    "scenarios": sorted(args.scenarios),
                    "accounts": args.accounts,
                    "links": args.links,
                    "generator_processes": GENERATOR_PROCESSES,
                },
                "targets": targets,
                "checks": checks,
                **result,
            },
        )
        print(f"results: {path.relative_to(common.ROOT)}\n")
        if not checks["all"]:
            status = 1
    return status


def _pg_version() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # informational only
        return None


def report(result: dict, checks: dict, targets: list[dict]) -> None:
    print()
    print(f"{result['profile']}: {result['database']}, gunicorn {result['gunicorn']['command']}")
    rows = []
    for r in result["runs"]:
        think = "none" if r["think_s"][1] == 0 else "{:g}-{:g} s".format(*r["think_s"])
        rows.append(
            (
                r["scenario"],
                r["users"],
                think,
                f"{r['requests']:,}",
                f"{r['requests_per_s']:.1f}",
                f"{r['p50_ms']:.0f}",
                f"{r['p95_ms']:.0f}",
                f"{r['p99_ms']:.0f}",
                f"{r['max_ms']:.0f}",
                r["errors"],
                f"{r['server_cpu_ms_per_request']:.1f}" if r["server_cpu_ms_per_request"] else "-",
                "{:.1f}/{:.1f}".format(r["load_average_before"][0], r["load_average_after"][0]),
            )
        )
    common.print_table(
        rows,
        header=(
            "scenario",
            "users",
            "think",
            "requests",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "errors",
            "server CPU ms/req",
            "load 1m before/after",
        ),
    )
    print()
    for r in result["runs"]:
        if r["scenario"] != "public":
            continue
        label = f"public x{r['users']}" + (" no think" if r["think_s"][1] == 0 else "")
        parts = [
            f"{name} p50/p95 {s['p50_ms']:.0f}/{s['p95_ms']:.0f} ms ({s['requests']})"
            for name, s in r["per_request"].items()
        ]
        print(f"  {label}: " + "; ".join(parts))
        if r["error_kinds"]:
            print(f"    errors: {r['error_kinds']}")
    for r in result["runs"]:
        if r["scenario"] == "admin" and r["error_kinds"]:
            print(f"  admin x{r['users']} errors: {r['error_kinds']}")
    login = result["login"] or {}
    print(f"  real admin login: status {login.get('status')}, {login.get('seconds', 0) * 1000:.0f} ms (not in a run)")
    failed = [k for k, ok in checks.items() if not ok and k != "all"]
    print(f"checks: {'all ok' if not failed else 'FAILED: ' + ', '.join(failed)}")
    for t in targets:
        print(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']} {t['rule']}  (measured {t['value']:,.1f})")


if __name__ == "__main__":
    sys.exit(main())
