"""Settings for the governance portal, read from the environment (see .env.example).

Development works with no variables at all: DJANGO_DEBUG is on unless set, so a fresh
clone's ``manage.py`` commands (migrate, makemigrations --check) need nothing. With DEBUG off
(production) the secrets must be given explicitly and the process refuses to start without
them; the web server (governance/wsgi.py) refuses to start unless DJANGO_DEBUG is set at all.
"""

import os
import re
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF

from governance.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("PORTAL_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", True)
PRODUCTION = not DEBUG

SECRET_KEY = env_secret(
    "DJANGO_SECRET_KEY",
    required=PRODUCTION,
    dev_default="dev-only-insecure-secret-key-not-for-production-use-0123456789",
)
# Keys are rotated by moving the old one here (comma-separated) for as long as links signed with it live.
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")
AUDIT_HMAC_KEY = env_secret("AUDIT_HMAC_KEY", required=PRODUCTION, dev_default="dev-only-audit-hmac-key")
# Signed anchors of the audit chain's head (governance.audit.anchors), outside the database: best on a
# volume or host the database's owner cannot write. AUDIT_ANCHOR_EMAIL: auditors mailed the daily one.
AUDIT_ANCHOR_DIR = Path(env_str("AUDIT_ANCHOR_DIR") or VAR_DIR / "audit-anchors")
AUDIT_ANCHOR_EMAIL = env_list("AUDIT_ANCHOR_EMAIL")
PORTAL_FERNET_KEYS = env_list("PORTAL_FERNET_KEYS")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
PORTAL_BASE_URL = (env_str("PORTAL_BASE_URL", "http://127.0.0.1:8000") or "").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [PORTAL_BASE_URL])

INSTALLED_APPS = [
    "governance.apps.PortalAdminConfig",  # django.contrib.admin with the portal's AdminSite
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "import_export",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "governance",
    "accounts",
    "policies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside everything below, so every page gets the header, the sign-in lockout page included.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "governance.middleware.SessionIdleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "governance.middleware.ClientIPMiddleware",
    # Last (django-axes' rule): turns a refused sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"
ASGI_APPLICATION = "governance.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite by default (one host): WAL so readers never block the writer, IMMEDIATE transactions
# so concurrent writers queue for the lock instead of failing with "database is locked"
# (DJANGO-NOTES 1.3). DATABASE_URL switches to PostgreSQL for the scale-out profile.
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    # The embedded profile starts from a fresh clone (`make run`): SQLite creates the file, not its folder.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASE_URL = f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
# The test database is one per test run (PORTAL_TEST_RUN, inherited by subprocesses such as a
# qcluster a test starts), so parallel runs on one machine or one PostgreSQL server cannot clash.
_test_run = re.sub(r"[^a-z0-9_]", "_", os.environ.setdefault("PORTAL_TEST_RUN", str(os.getpid())).lower())
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: concurrency tests use threads and subprocesses (qcluster).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_portal_{_test_run}.sqlite3")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if env_bool("DATABASE_POOL", True):
        # psycopg's pool keeps max_size == min_size (4) unless told. A policy run or bulk action
        # works with ATLASSIAN_CONCURRENCY threads, each holding a connection while it changes an
        # account (its advisory lock lives on it), and a bulk action, a policy run and the sync can
        # overlap in one process: room for two such pools and the sync, opened only when used.
        pool_max = 2 * env_int("ATLASSIAN_CONCURRENCY", 32, minimum=1) + 4
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 2,
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", pool_max, minimum=2),
        }
    else:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = False
    if DATABASES["default"]["OPTIONS"]["pool"]:
        # A forked django-q2 worker must not query through the pool its parent left it.
        from governance.dbpool import forget_inherited_pools

        os.register_at_fork(after_in_child=forget_inherited_pools)
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DATABASE_BEHIND_PGBOUNCER", False)
    # PostgreSQL names are at most 63 bytes.
    DATABASES["default"]["TEST"] = {"NAME": f"test_portal_{_test_run}"[:63]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and task queue --------------------------------------------------------------------
# The cache must be shared by web and task processes (django-q2 stats, throttles), so never
# LocMemCache: Redis when REDIS_URL is given, otherwise a database table.
REDIS_URL = env_str("REDIS_URL")
# Every key the portal writes to Redis starts with this: cache entries and the django-q2 queue and
# stats (the cluster name). All hosts of one portal share it; two portals on one Redis differ.
REDIS_KEY_PREFIX = env_str("REDIS_KEY_PREFIX", "governance") or "governance"
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "portal_cache"}}

TASK_TIMEOUT = env_int("TASK_TIMEOUT", 1800, minimum=60)
Q_CLUSTER = {
    # Every web process and cluster of one portal must share this name (and SECRET_KEY, which
    # signs the tasks): it names the queue.
    "name": REDIS_KEY_PREFIX,
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    # A task slower than `timeout` is killed; `retry` must be longer than timeout plus queue
    # wait or the broker re-delivers a running task to a second worker (DJANGO-NOTES 1.1).
    "timeout": TASK_TIMEOUT,
    "retry": TASK_TIMEOUT + 300,
    "max_attempts": 2,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "recycle": 200,
    "max_rss": 400_000,
    "time_zone": "UTC",
    "cache": "default",
    "label": "Task queue",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth and passwords ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- Sign-in protection (django-axes) ----------------------------------------------------------
# Failed admin sign-ins are counted per username and per client address with django-axes rather
# than with the portal's own fixed-window counter (governance.ratelimit): a lockout must hold the
# right password back too (axes refuses inside authenticate(), before any backend checks it), and
# Portal admins must be able to see who is locked out and lift it; the counter's keys are HMACs,
# deliberately unreadable. axes keeps its attempts in the database (AccessAttempt), so every web
# process and host shares them, on SQLite and PostgreSQL, with no cache needed.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in before the password is checked
    "django.contrib.auth.backends.ModelBackend",
]
PORTAL_LOGIN_FAILURE_LIMIT = env_int("PORTAL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
# An address gets more room than a username: several people sign in from one office (one NAT
# address), and one of them mistyping a forgotten password must not lock the whole office out.
PORTAL_LOGIN_FAILURE_LIMIT_PER_IP = env_int(
    "PORTAL_LOGIN_FAILURE_LIMIT_PER_IP", 4 * PORTAL_LOGIN_FAILURE_LIMIT, minimum=PORTAL_LOGIN_FAILURE_LIMIT
)
PORTAL_LOGIN_LOCKOUT_MINUTES = env_int("PORTAL_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
AXES_HANDLER = "governance.signin.handler.PortalAxesHandler"  # per-dimension limits, audit events
AXES_FAILURE_LIMIT = PORTAL_LOGIN_FAILURE_LIMIT  # the handler scales the address count to it
# Locked when either the username or the address passes its limit. The trade-off, chosen on purpose:
# - per username: guessing one account's password is capped however many addresses an attacker
#   has (the finding: 100 guesses in 62 s). The price: anyone can lock a known admin out for
#   PORTAL_LOGIN_LOCKOUT_MINUTES by failing as them; short lockouts, an audit event per lockout and
#   a Portal admin's "Unlock" bound that. (Locking by username and address together would spare
#   the victim but give a botnet PORTAL_LOGIN_FAILURE_LIMIT guesses per address.)
# - per address: one address spraying many usernames is capped too. Behind a reverse proxy the
#   address must come from X-Forwarded-For (PORTAL_TRUSTED_PROXY_COUNT, the same client_ip as the
#   rest of the portal): left at 0, every sign-in shares the proxy's address and a few failures lock
#   everybody out (system check governance.W001 warns).
AXES_LOCKOUT_PARAMETERS = [["username"], ["ip_address"]]
AXES_CLIENT_IP_CALLABLE = "governance.middleware.client_ip"
AXES_COOLOFF_TIME = "governance.signin.lockouts.axes_cooloff"  # PORTAL_LOGIN_LOCKOUT_MINUTES, read when used
# A refused attempt during a lockout is neither counted nor stored: the lockout ends on time even
# under a stream of attempts, and an attacker cannot grow the attempt rows (axes appends each
# attempt's form data to its row).
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Never reset on success: a successful sign-in would clear its address's failures, so an attacker
# with any working account could reset their address's count between guesses.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "governance.signin.views.locked_out"  # 429 page saying how long, and who can unlock
AXES_HTTP_RESPONSE_CODE = 429
AXES_ENABLE_ADMIN = False  # governance.signin.admin registers the admins, with an audited Unlock
AXES_VERBOSE = False

# --- Sessions ----------------------------------------------------------------------------------
# An admin session ends after this long without a request. The expiry slides forward at most once
# a minute (governance.middleware.SessionIdleMiddleware) rather than with SESSION_SAVE_EVERY_REQUEST:
# that would write the session row on every page, every autocomplete keystroke and every progress
# poll, and on SQLite each write waits for the single write lock a running sync may be holding.
PORTAL_SESSION_IDLE_MINUTES = env_int("PORTAL_SESSION_IDLE_MINUTES", 480, minimum=5)
SESSION_COOKIE_AGE = PORTAL_SESSION_IDLE_MINUTES * 60
SESSION_REFRESH_SECONDS = 60

# --- i18n, static ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("PORTAL_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# The portal's own stylesheet and scripts live in governance/static/portal/ (found as an app's
# static files): no inline styles or scripts anywhere.
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Email -----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "governance-portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The identity team: mailed the CSV of accounts a policy run found provisioned by an identity
# provider (SCIM), whose deactivation or deletion Atlassian leaves to that provider. Empty: not mailed
# (the CSV stays downloadable from the policy run's page).
IDP_TEAM_EMAIL = env_str("IDP_TEAM_EMAIL", "") or ""

# --- Security (production) -------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers and monitors probe the backend over plain HTTP; /healthz shows only ages and
    # booleans, so it answers there instead of redirecting (ALLOWED_HOSTS still applies).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy on every page, with django-csp rather than a hand-written middleware: it
# gives per-page additions on the response (governance.csp), nonces and a report-only mode should a
# later page need them, and Django 6.0's built-in CSP is modelled on it (same dictionary of
# directives), so moving to it is a rename. Scripts and styles come from the portal's own static
# files only: no inline <script>, <style> or style="" in the templates, so neither 'unsafe-inline'
# nor a nonce is needed. A page that needs more says so on its own response (a policy's email
# preview: governance.csp). The public /access/ pages send their own stricter policy
# (policies/access/throttle.py), which the middleware leaves in place.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # the admin's and Swagger UI's icons are data: URLs in their CSS
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Number of trusted reverse proxies in front of the app: the client IP is taken that many
# hops from the right of X-Forwarded-For. 0 = use REMOTE_ADDR (never trust the header).
PORTAL_TRUSTED_PROXY_COUNT = env_int("PORTAL_TRUSTED_PROXY_COUNT", 0, minimum=0)

# --- Atlassian and policies ------------------------------------------------------------------
ATLASSIAN_ORG_ID = env_str("ATLASSIAN_ORG_ID", "")
ATLASSIAN_ADMIN_API_KEY = env_str("ATLASSIAN_ADMIN_API_KEY", "")
ATLASSIAN_API_BASE = (env_str("ATLASSIAN_API_BASE", "https://api.atlassian.com") or "").rstrip("/")
ATLASSIAN_SITE_URL = (env_str("ATLASSIAN_SITE_URL", "") or "").rstrip("/")
ATLASSIAN_EMAIL = env_str("ATLASSIAN_EMAIL", "")
ATLASSIAN_API_TOKEN = env_str("ATLASSIAN_API_TOKEN", "")
# Remote calls of bulk actions and policy runs: at most this many at once per organization (per
# process), paced together by Atlassian's rate-limit headers (accounts/pool.py), by as many worker
# threads. 1: one at a time. 32: a worker spends more time waiting than on the wire: for the reads
# it shares with the others' (one search for ten read-backs, governance/atlassian/client/
# read_batcher.py), its account's lock and its transaction. With 16, 600 suspensions at 300 ms a
# call and 1,200 requests a minute took 1.46 x the rate limit's floor, the workers the bottleneck;
# with 32, 0.93-0.96 x (bench/bench_pace.py). The pacer still keeps to the rate limit.
ATLASSIAN_CONCURRENCY = env_int("ATLASSIAN_CONCURRENCY", 32, minimum=1)
# The share of TASK_TIMEOUT a run spends acting before it stops between accounts and leaves the
# rest to a follow-up task (policy runs), well before the cluster would kill it mid-account.
ACTION_TIME_BUDGET = int(TASK_TIMEOUT * 0.8)
ATLASSIAN_SPECS_DIR = Path(env_str("ATLASSIAN_SPECS_DIR", str(BASE_DIR.parent / "shared" / "atlassian" / "specs")))

POLICY_MAX_SYNC_AGE = env_float("POLICY_MAX_SYNC_AGE", 26.0, minimum=0.1)  # hours
SYNC_SCHEDULE_CRON = env_str("SYNC_SCHEDULE_CRON", "17 * * * *")
# A sync that would mark more than this share of the mirror removed, or blank the activity of
# more than this share, stops and reports instead of writing (DESIGN.md section 5.2).
SYNC_MAX_REMOVED_SHARE = env_float("SYNC_MAX_REMOVED_SHARE", 0.10, minimum=0.0)
SYNC_MAX_BLANKED_SHARE = env_float("SYNC_MAX_BLANKED_SHARE", 0.10, minimum=0.0)
# A sync of an organization Atlassian counts at least this many users in lists them in a child
# process, which parses the pages beside the sync's writes instead of taking turns with them
# (accounts/sync/listing_process.py); 0: always in a thread of the sync's process.
SYNC_LISTING_PROCESS_MIN_USERS = env_int("SYNC_LISTING_PROCESS_MIN_USERS", 10000, minimum=0)
ACCESS_LINK_MAX_AGE_DAYS = env_int("ACCESS_LINK_MAX_AGE_DAYS", 30, minimum=1)
BULK_ACTION_INLINE_LIMIT = env_int("BULK_ACTION_INLINE_LIMIT", 200, minimum=0)  # more accounts: a background task
# Seconds an action run in the page may take: accounts not started by then go on in the background.
BULK_ACTION_INLINE_BUDGET = env_int("BULK_ACTION_INLINE_BUDGET", 60, minimum=1)
# Upper layers contribute scheduled jobs by dotted path (governance.schedules).
PORTAL_SCHEDULE_PROVIDERS = [
    "policies.schedules.fixed_jobs",
    "policies.schedules.policy_jobs",
    "policies.access.schedules.access_jobs",
]
# Upper layers' functions called after each complete sync, by dotted path (accounts.sync.runner).
PORTAL_AFTER_SYNC = [
    "policies.access.returns.returns_after_sync",
    "policies.services.onboarding.onboarding_after_sync",
]
# The only functions the task cluster runs (DESIGN.md 5.13): every scheduled job's func and every
# function queued with async_task, by dotted path. A queued task or schedule naming anything else,
# or carrying a result hook that is not listed here, is refused before it runs
# (governance.taskqueue.guard), and setup_schedules refuses to create such a schedule.
PORTAL_TASK_FUNCTIONS = [
    "governance.tasks.verify_audit_log",
    "governance.tasks.anchor_audit_log",
    "accounts.tasks.sync_all_organizations",
    "accounts.tasks.sync_organization_now",
    "accounts.bulk_tasks.run_bulk_action",
    "accounts.importexport.tasks.run_import",
    "policies.tasks.run_policy",
    "policies.tasks.run_policy_now",
    "policies.tasks.send_pending_notices",
    "policies.tasks.review_campaigns_daily",
    "policies.access.tasks.send_restore_link",
    "policies.access.tasks.fulfil_access_request",
    "policies.access.tasks.fulfil_access_requests",
    "policies.access.tasks.expire_pending_requests",
    "policies.access.tasks.purge_rate_limit_counters",
    "policies.access.tasks.expire_access",
    "policies.access.tasks.restore_on_return_dates",
    "governance.notifications.tasks.dispatch_event",
    "governance.notifications.tasks.deliver_webhook",
    "governance.notifications.tasks.retry_webhook_deliveries",
    "governance.notifications.tasks.prune_webhook_deliveries",
]

# --- Notifications (governance/notifications: webhooks and Slack messages) ----------------------
# Receivers on loopback or private addresses are refused unless this is set (an internal chat
# server, the test suite's receiver); a deployment decision, not one any portal role can take.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
# A failed delivery is tried again after 1, 2, 4, 8 ... minutes, WEBHOOK_MAX_ATTEMPTS times in all.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 6, minimum=1)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 60, minimum=1)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0, minimum=1.0)
# The daily prune deletes delivered and given-up deliveries older than this many days from the
# delivery log; pending and retrying ones are never pruned.
WEBHOOK_DELIVERY_RETENTION_DAYS = env_int("WEBHOOK_DELIVERY_RETENTION_DAYS", 30, minimum=1)

# --- Logging ---------------------------------------------------------------------------------
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "governance.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

# --- Account import and export (accounts/importexport) -------------------------------------------
# django-import-export keeps an upload between preview and confirm in this storage. The cache is
# shared by every web process (database table or Redis, never LocMem), so a confirm that lands on
# another host or worker still finds the file; entries expire after 24 hours. MediaStorage also
# works when MEDIA_ROOT is shared storage. Never TempFolderStorage (one host's /tmp only).
IMPORT_EXPORT_TMP_STORAGE_CLASS = env_str("IMPORT_EXPORT_TMP_STORAGE_CLASS", "import_export.tmp_storages.CacheStorage")
# Import needs change_<model> (for accounts: portal admins; AccountImportExportMixin also requires
# accounts.change_membership); export needs view_<model> (admins, help desk, auditors). Unset, the
# library lets any staff user who reaches a changelist import and export.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
# Largest upload accepted (bytes) and most data rows in one import file.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 5 * 1024 * 1024, minimum=1)
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 100_000, minimum=1)
# A confirmed import changing more accounts than this is applied by a task worker (progress and
# result on its own page), not inside the web request, which a change import calling Atlassian
# once per row would outlive. The preview is still computed in the request.
IMPORT_BACKGROUND_ROWS = env_int("IMPORT_BACKGROUND_ROWS", 2000, minimum=1)

# --- Self-service access restoration (/access/) -----------------------------------------------
# A request waiting for a help-desk decision expires after this many days.
ACCESS_REQUEST_EXPIRY_DAYS = env_int("ACCESS_REQUEST_EXPIRY_DAYS", 14, minimum=1)
# Access given until a date: a first extension request from the warning's link is granted at once by
# this many days (0: the help desk decides every request).
ACCESS_EXTENSION_AUTO_DAYS = env_int("ACCESS_EXTENSION_AUTO_DAYS", 0, minimum=0)
# Attempts at giving access back when Atlassian answers with a transient error (429, 5xx, timeout).
ACCESS_FULFIL_MAX_ATTEMPTS = env_int("ACCESS_FULFIL_MAX_ATTEMPTS", 3, minimum=1)
# Rate limits of the public pages: requests per fixed window, counted in the database
# (governance.ratelimit) so every web process shares them, on SQLite and PostgreSQL.
ACCESS_RATE_LIMIT_WINDOW_SECONDS = env_int("ACCESS_RATE_LIMIT_WINDOW_SECONDS", 3600, minimum=1)
ACCESS_RATE_LIMIT_PER_IP = env_int("ACCESS_RATE_LIMIT_PER_IP", 30, minimum=1)
ACCESS_RATE_LIMIT_PER_EMAIL = env_int("ACCESS_RATE_LIMIT_PER_EMAIL", 5, minimum=1)
ACCESS_RATE_LIMIT_PER_TOKEN = env_int("ACCESS_RATE_LIMIT_PER_TOKEN", 10, minimum=1)
# Restore links are credentials: mask them in log lines and error reports (governance.logging).
DEFAULT_EXCEPTION_REPORTER = "governance.logging.AccessTokenExceptionReporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "governance.logging.AccessTokenReporterFilter"
LOGGING["filters"]["mask_access_tokens"] = {"()": "governance.logging.MaskAccessTokensFilter"}
LOGGING["handlers"]["console"]["filters"].append("mask_access_tokens")
LOGGING["loggers"]["django.request"] = {"filters": ["mask_access_tokens"]}
LOGGING["loggers"]["django.security.csrf"] = {"filters": ["mask_access_tokens"]}
# Same handler as Django's default for runserver's request lines, with the mask added.
LOGGING["formatters"]["django.server"] = {
    "()": "django.utils.log.ServerFormatter",
    "format": "[{server_time}] {message}",
    "style": "{",
}
LOGGING["handlers"]["django.server"] = {
    "level": "INFO",
    "class": "logging.StreamHandler",
    "formatter": "django.server",
    "filters": ["mask_access_tokens"],
}
LOGGING["loggers"]["django.server"] = {"handlers": ["django.server"], "level": "INFO", "propagate": False}
# Each 4xx once and without a traceback: an expected refusal is not an error (governance.logging).
LOGGING["filters"]["expected_refusals"] = {"()": "governance.logging.ExpectedRefusalFilter"}
for _name in ("django.request", "django.server"):
    LOGGING["loggers"][_name].setdefault("filters", []).append("expected_refusals")


# --- REST API (/api/, governance/api_urls.py) -------------------------------------------------
# Scripts send `Authorization: Token <secret>` (API tokens are created in the admin); the browser
# uses its admin session. Reading needs the model's view permission, writing the admin action's own
# permission (governance.api.permissions). Throttles count per token in the shared cache (database
# table or Redis), so the limits hold across processes and hosts. Production speaks JSON only: the
# browsable API would render filter forms, and is for development.
def _api_rate(name: str, default: str) -> str:
    """``<requests>/<second|minute|hour|day>``; anything else stops the process at start-up."""
    import re

    from django.core.exceptions import ImproperlyConfigured

    value = env_str(name, default) or default
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name} must look like 300/hour, not {value!r}.")
    return value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["governance.api.permissions.ModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "governance.api.pagination.KeysetPagination",
    "DEFAULT_FILTER_BACKENDS": ["governance.api.filters.FilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "governance.api.throttling.ApiRateThrottle",
        "governance.api.throttling.ApiWriteRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api": _api_rate("API_RATE_LIMIT", "3000/hour"),
        "api_write": _api_rate("API_WRITE_RATE_LIMIT", "300/hour"),
    },
    "NUM_PROXIES": PORTAL_TRUSTED_PROXY_COUNT,
    "EXCEPTION_HANDLER": "governance.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# Bad tokens: after this many failed token authentications from one client address in a fixed
# window, every token request from it gets 429 (Retry-After: the window's end) without its token
# being looked at, and one audit event records the lockout (governance.api.lockout).
PORTAL_API_TOKEN_FAILURE_LIMIT = env_int("PORTAL_API_TOKEN_FAILURE_LIMIT", 20, minimum=1)
PORTAL_API_TOKEN_FAILURE_WINDOW_MINUTES = env_int("PORTAL_API_TOKEN_FAILURE_WINDOW_MINUTES", 10, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "Atlassian governance portal API",
    "DESCRIPTION": "Accounts, groups, policies, exemptions, enforcements, access requests, runs and the "
    "audit trail of the governance portal. Authenticate with `Authorization: Token <secret>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SCHEMA_PATH_PREFIX": r"/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Status fields of several models share a name; each keeps its own enum in the schema.
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "accounts.models.AccountStatus",
        "AccessRequestStatusEnum": "policies.models.access_requests.AccessRequestStatus",
        "EnforcementStatusEnum": "policies.models.EnforcementStatus",
        "RunStatusEnum": "governance.runs.models.RunStatus",
        "PolicyActionEnum": "policies.models.PolicyAction",
        "PolicyTriggerEnum": "policies.models.Trigger",
        "RunTriggerEnum": "governance.runs.models.RunTrigger",
    },
}
