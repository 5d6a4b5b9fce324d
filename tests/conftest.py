"""Personas and shared fixtures: an admin, a help-desk user, an auditor, a superuser, a visitor."""

import shutil
import uuid

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User

from accounts.services.account_lock import lock_folder
from governance.roles import AUDITORS, HELP_DESK, PORTAL_ADMINS


def _staff(username: str, role: str | None, *, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, email=f"{username}@portal.test", password="x" * 16)
    user.is_staff = True
    user.is_superuser = superuser
    user.save()
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def alice(db):
    """Alice is a portal admin."""
    return _staff("alice", PORTAL_ADMINS)


@pytest.fixture
def hank(db):
    """Hank works on the help desk."""
    return _staff("hank", HELP_DESK)


@pytest.fixture
def audrey(db):
    """Audrey is an auditor: she reads everything and changes nothing."""
    return _staff("audrey", AUDITORS)


@pytest.fixture
def nobody(db):
    """Staff with no role at all."""
    return _staff("nobody", None)


@pytest.fixture
def root(db):
    return _staff("root", None, superuser=True)


@pytest.fixture
def group_id_form():
    """How the simulators of a test spell group ids in the Admin API's group search and paths.

    ``ari`` unless a test says otherwise with ``@both_group_id_forms`` (tests/group_forms.py),
    which runs it once per form the documents show.
    """
    return "ari"


@pytest.fixture
def client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


_DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences", "django_db_serialized_rollback"}


def _uses_db(request) -> tuple[bool, bool]:
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    transactional = bool(
        (marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
        or names & {"transactional_db", "live_server"}
    )
    return bool(marker or names & _DB_FIXTURES), transactional


@pytest.fixture(autouse=True)
def _audit_triggers_around_flush(request):
    """Transactional tests end with a table flush, which the audit table's triggers refuse on
    SQLite (PostgreSQL's TRUNCATE fires no row trigger). Lift them for the flush only, and make
    sure every database test starts with them in place."""
    uses_db, transactional = _uses_db(request)
    if uses_db:
        from django.db import connection

        from governance.audit import triggers

        request.getfixturevalue("transactional_db" if transactional else "db")
        triggers.install(connection)
    yield
    if transactional:
        from django.db import connection

        from governance.audit import triggers

        triggers.remove(connection)


@pytest.fixture(autouse=True)
def _audit_anchor_dir(settings, tmp_path_factory):
    """Audit anchors live in files outside the database: each test gets its own directory (created only
    when something writes an anchor), so one test's anchors never judge another test's chain."""
    settings.AUDIT_ANCHOR_DIR = tmp_path_factory.getbasetemp() / "audit-anchors" / uuid.uuid4().hex


@pytest.fixture(autouse=True)
def _empty_redis_between_tests():
    """The database cache and the ORM queue are rows, gone with each test's transaction or flush;
    Redis keeps its keys. Empty this run's cache keys and task queue (only those: the prefix is
    per run, see settings_test) so throttle counts or queued tasks never leak into the next test."""
    from django.conf import settings

    if not settings.REDIS_URL:
        yield
        return
    from django.core.cache import cache

    from tests import taskqueue

    cache.delete_pattern("*")
    taskqueue.purge()
    yield


def pytest_sessionfinish(session, exitstatus):
    """The run's SQLite database is dropped at the end; so are the account-lock files beside it."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and database.get("TEST", {}).get("NAME"):
        shutil.rmtree(lock_folder(database["TEST"]["NAME"]), ignore_errors=True)
