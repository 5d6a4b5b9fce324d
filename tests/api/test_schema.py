"""The OpenAPI schema is valid and warning-free; Swagger UI comes from local static files; production
answers in JSON only."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def test_the_schema_is_valid_openapi_without_a_single_warning(tmp_path):
    target = tmp_path / "schema.yml"
    # --fail-on-warn raises on any warning (an unresolvable field type, an enum name clash ...);
    # --validate checks the document against the OpenAPI 3 specification.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), stderr=StringIO())
    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in (
        "/api/accounts/",
        "/api/accounts/bulk/",
        "/api/accounts/bulk/{id}/",
        "/api/policies/{id}/preview/",
        "/api/policies/{id}/run/",
        "/api/exemptions/{id}/expire/",
        "/api/enforcements/{id}/approve/",
        "/api/access-requests/{id}/reject/",
        "/api/audit-events/",
        "/api/runs/{id}/",
    ):
        assert path in paths, path
    assert set(paths["/api/audit-events/{id}/"]) == {"get"}  # append-only: no write operation at all
    parameters = {p["name"] for p in paths["/api/accounts/"]["get"]["parameters"]}
    assert {"status", "inactivity", "group", "not_group", "product", "managed", "cursor", "ordering"} <= parameters
    assert "apiToken" in schema["components"]["securitySchemes"]


@pytest.mark.django_db
def test_the_served_schema_is_the_same_document(api_as, audrey):
    response = api_as(audrey).get(reverse("api:schema"), {"format": "json"})
    assert response.status_code == 200
    assert "/api/accounts/" in json.loads(response.content)["paths"]


@pytest.mark.django_db
def test_swagger_ui_is_served_from_local_static_files(api_as, audrey):
    page = api_as(audrey).get(reverse("api:docs")).content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert "unpkg" not in page.lower()
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")


def _production_rest_framework() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AUDIT_", "PORTAL_"))}
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="p" * 60,
        AUDIT_HMAC_KEY="production-audit-hmac-key-0123456789",
        DJANGO_ALLOWED_HOSTS="portal.example.com",
        PORTAL_VAR_DIR=str(ROOT / "var" / "prodcheck"),
    )
    code = "import json; from governance import settings; print(json.dumps(settings.REST_FRAMEWORK))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_production_renders_json_only_and_parses_json_only():
    rest = _production_rest_framework()
    assert rest["DEFAULT_RENDERER_CLASSES"] == ["rest_framework.renderers.JSONRenderer"]
    assert rest["DEFAULT_PARSER_CLASSES"] == ["rest_framework.parsers.JSONParser"]


@pytest.mark.django_db
def test_the_development_browsable_api_never_lists_every_group_or_product(api_as, audrey, mirror, settings):
    renderers = settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"]
    if "rest_framework.renderers.BrowsableAPIRenderer" not in renderers:
        pytest.skip("JSON only in these settings")
    page = api_as(audrey).get(reverse("api:account-list"), HTTP_ACCEPT="text/html").content.decode()
    assert 'name="group"' in page  # the filter form is there ...
    for row in (*mirror["groups"], *mirror["products"]):  # ... as text boxes, not <select>s of every row
        assert f'<option value="{row.pk}"' not in page
