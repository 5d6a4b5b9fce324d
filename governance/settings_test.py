"""Settings for the test suite: the development defaults plus fast, deterministic pieces."""

import os
import tempfile

os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("AUDIT_HMAC_KEY", "test-audit-hmac-key")

from governance.settings import *  # noqa: F403
from governance.settings import _test_run

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# The webhook tests' receiver listens on loopback (governance/notifications/safety.py); the tests of
# the address check turn this off again.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns when it is missing)
if not os.environ.get("AUDIT_ANCHOR_DIR"):
    # Audit anchors are files: a test process (each test gets its own, tests/conftest.py) never appends to
    # the developer's var/audit-anchors, nor judges its own chain by anchors of another database.
    AUDIT_ANCHOR_DIR = Path(tempfile.gettempdir()) / f"governance-test-anchors-{os.getpid()}"  # noqa: F405

if REDIS_URL:  # noqa: F405
    # One Redis serves every test run on the machine (and maybe a developer's portal): this run's
    # cache keys and task queue get their own prefix, like its database gets its own name, and
    # tests/conftest.py empties exactly those between tests (never FLUSHDB).
    REDIS_KEY_PREFIX = f"governance-test-{_test_run}"
    CACHES["default"]["KEY_PREFIX"] = REDIS_KEY_PREFIX  # noqa: F405
    Q_CLUSTER["name"] = REDIS_KEY_PREFIX  # noqa: F405
