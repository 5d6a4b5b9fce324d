"""Refused requests are logged once, without a traceback; server errors keep theirs."""

import logging
import sys

import pytest
from django.urls import reverse


def _records_about(caplog, path):
    return [record for record in caplog.records if path in record.getMessage()]


def _record(logger_name, status, *, exc_info=None):
    logger = logging.getLogger(logger_name)
    return logger, logger.makeRecord(
        logger_name, logging.WARNING, __file__, 1, "answer %s", (status,), exc_info, extra={"status_code": status}
    )


@pytest.mark.django_db
class TestRefusalsAreLoggedOnce:
    def test_a_404_is_one_warning_without_a_traceback(self, client_for, alice, caplog):
        caplog.set_level(logging.INFO)
        assert client_for(alice).get("/no-such-page/").status_code == 404
        [record] = _records_about(caplog, "/no-such-page/")
        assert (record.name, record.levelname, record.exc_info) == ("django.request", "WARNING", None)

    def test_a_403_for_a_missing_permission_is_one_warning_without_a_traceback(self, client_for, hank, caplog):
        caplog.set_level(logging.INFO)
        url = reverse("admin:governance_auditevent_changelist")
        assert client_for(hank).get(url).status_code == 403
        [record] = _records_about(caplog, url)
        assert record.getMessage().startswith("Forbidden")
        assert record.exc_info is None
        assert "Traceback" not in caplog.text

    def test_a_server_error_keeps_its_traceback(self):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger, record = _record("django.request", 500, exc_info=sys.exc_info())
        assert logger.filter(record)
        assert record.exc_info is not None


class TestTheDevelopmentServerDoesNotRepeatThem:
    @pytest.mark.parametrize("status", [403, 404, 500])
    def test_its_request_line_for_an_answer_django_logged_is_dropped(self, status):
        logger, record = _record("django.server", status)
        assert not logger.filter(record)

    def test_its_request_line_for_a_success_stays(self):
        logger, record = _record("django.server", 200)
        assert logger.filter(record)
