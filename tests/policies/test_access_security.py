"""Abuse resistance of the public pages: CSRF, headers, no redirects, tokens kept out of logs."""

import logging
import sys

import pytest
from django.test import Client, RequestFactory
from django.urls import resolve, reverse
from django.utils.module_loading import import_string

from governance.logging import AccessTokenReporterFilter, MaskAccessTokensFilter, mask_access_tokens
from policies.models import AccessRequest
from tests.policies.test_access_support import act, path_for

pytestmark = pytest.mark.django_db


def _private(response):
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert "default-src 'none'" in response["Content-Security-Policy"]


class TestHeaders:
    def test_every_page_is_private(self, make_policy, client, settings):
        settings.ACCESS_RATE_LIMIT_PER_IP = 4
        path = path_for(act(make_policy(justification_required=True)))
        _private(client.get("/access/"))
        _private(client.post("/access/", {"email": "a@example.com"}))
        _private(client.get(path))
        _private(client.post(path, {"justification": ""}))
        _private(client.get("/access/restore/nonsense/"))
        for _ in range(3):
            last = client.get("/access/restore/nonsense/")
        assert last.status_code == 429
        _private(last)

    def test_no_external_assets(self, make_policy, client):
        page = client.get(path_for(act(make_policy()))).content.decode()
        assert "<script" not in page
        assert "http://" not in page
        assert "https://" not in page


class TestCsrf:
    def test_the_email_form_needs_its_token(self):
        strict = Client(enforce_csrf_checks=True)
        assert strict.post("/access/", {"email": "a@example.com"}).status_code == 403

    def test_the_restore_form_needs_its_token(self, make_policy):
        strict = Client(enforce_csrf_checks=True)
        path = path_for(act(make_policy()))
        assert strict.post(path, {"justification": "x"}).status_code == 403
        assert not AccessRequest.objects.exists()
        page = strict.get(path)
        token = page.context["csrf_token"]
        assert strict.post(path, {"justification": "x", "csrfmiddlewaretoken": str(token)}).status_code == 200
        assert AccessRequest.objects.count() == 1

    def test_the_null_origin_of_a_no_referrer_page_is_accepted_a_foreign_one_is_not(self, make_policy, settings):
        # Browsers send "Origin: null" with a form POST from a page with Referrer-Policy: no-referrer.
        strict = Client(enforce_csrf_checks=True)
        path = path_for(act(make_policy()))
        token = str(strict.get(path).context["csrf_token"])
        foreign = strict.post(
            path, {"justification": "x", "csrfmiddlewaretoken": token}, HTTP_ORIGIN="https://evil.example"
        )
        assert foreign.status_code == 403
        no_token = strict.post(path, {"justification": "x"}, HTTP_ORIGIN="null")
        assert no_token.status_code == 403
        assert not AccessRequest.objects.exists()
        ok = strict.post(path, {"justification": "x", "csrfmiddlewaretoken": token}, HTTP_ORIGIN="null")
        assert ok.status_code == 200
        assert AccessRequest.objects.count() == 1
        email_token = str(strict.get("/access/").context["csrf_token"])
        sent = strict.post(
            "/access/", {"email": "a@example.com", "csrfmiddlewaretoken": email_token}, HTTP_ORIGIN="null"
        )
        assert sent.status_code == 200


def _every_public_path(token: str) -> list[str]:
    """Every URL of policies.access.urls, a page taking a token given ``token``: a page added there is tested too."""
    from policies.access.urls import urlpatterns

    paths = []
    for pattern in urlpatterns:
        kwargs = dict.fromkeys(pattern.pattern.converters, token)
        paths.append(reverse(f"access:{pattern.name}", kwargs=kwargs))
    return paths


class TestMethods:
    @pytest.mark.parametrize("method", ["put", "patch", "delete"])
    def test_other_methods_are_405_with_an_allow_header_before_any_csrf_check(self, make_policy, method):
        valid = path_for(act(make_policy())).split("/")[3]
        strict = Client(enforce_csrf_checks=True)
        paths = _every_public_path(valid) + _every_public_path("nonsense")
        assert "/access/" in paths
        assert f"/access/restore/{valid}/" in paths
        form = "application/x-www-form-urlencoded"
        for path in paths:
            response = getattr(strict, method)(path, "email=a@example.com", content_type=form)
            assert response.status_code == 405, path
            assert response["Allow"] == "GET, HEAD, POST"
        assert not AccessRequest.objects.exists()

    def test_the_405_is_logged_without_the_token(self, make_policy, caplog):
        path = path_for(act(make_policy()))
        token = path.split("/")[3]
        with caplog.at_level(logging.WARNING, logger="django.request"):
            assert Client().delete(path).status_code == 405
        assert any("Method Not Allowed" in r.getMessage() for r in caplog.records)
        assert not any(token in r.getMessage() for r in caplog.records)


def test_there_is_no_redirect_and_no_next_parameter(make_policy, client):
    path = path_for(act(make_policy()))
    for response in (
        client.get("/access/?next=https://evil.example/"),
        client.post("/access/?next=https://evil.example/", {"email": "a@example.com", "next": "https://evil.example/"}),
        client.post(path + "?next=https://evil.example/", {"justification": "x", "next": "https://evil.example/"}),
    ):
        assert response.status_code == 200
        assert "Location" not in response
        assert b"evil.example" not in response.content


class TestTokensStayOutOfLogs:
    def test_a_bad_link_response_is_logged_without_its_token(self, client, caplog):
        token = "eyJlIjoxLCJuIjoiYWJjIn0:1vAbCd:secretsignaturepart0123456789"
        with caplog.at_level(logging.WARNING, logger="django.request"):
            assert client.get(f"/access/restore/{token}/").status_code == 410
            assert client.get(f"/access/restore/{token}/not-a-page").status_code == 404
        messages = [r.getMessage() for r in caplog.records]
        assert any("/access/restore/[token]/" in m for m in messages)
        assert not any(token in m for m in messages)
        assert not any(token in r.request.path for r in caplog.records if hasattr(r, "request"))

    def test_a_csrf_failure_is_logged_without_the_token(self, make_policy, caplog):
        path = path_for(act(make_policy()))
        token = path.split("/")[3]
        with caplog.at_level(logging.WARNING, logger="django.security.csrf"):
            Client(enforce_csrf_checks=True).post(path, {"justification": "x"})
        assert caplog.records
        assert not any(token in r.getMessage() for r in caplog.records)

    def test_error_reports_mask_the_token(self, settings):
        assert settings.DEFAULT_EXCEPTION_REPORTER_FILTER == "governance.logging.AccessTokenReporterFilter"
        token = "eyJlIjoxLCJuIjoiYWJjIn0:1vAbCd:secretsignaturepart0123456789"
        request = RequestFactory().get(f"/access/restore/{token}/")
        request.resolver_match = resolve(request.path)

        def handler(request):
            callback_kwargs = {"token": token}  # what Django's handler frame holds
            raise RuntimeError(f"boom for {request.path} with {callback_kwargs}")

        try:
            handler(request)
        except RuntimeError:
            exc_info = sys.exc_info()
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", (request.path,), exc_info
        )
        record.request = request
        MaskAccessTokensFilter().filter(record)
        assert token not in record.getMessage()
        # What django.utils.log.AdminEmailHandler does with the record.
        reporter = import_string(settings.DEFAULT_EXCEPTION_REPORTER)(record.request, *exc_info, is_email=True)
        assert isinstance(reporter.filter, AccessTokenReporterFilter)
        for report in (reporter.get_traceback_text(), reporter.get_traceback_html()):
            assert "[token]" in report
            assert "secretsignaturepart" not in report

    def test_mask_access_tokens(self):
        assert mask_access_tokens('"GET /access/restore/abc:def.ghi/ HTTP/1.1" 410') == (
            '"GET /access/restore/[token]/ HTTP/1.1" 410'
        )
        assert mask_access_tokens("/access/") == "/access/"
