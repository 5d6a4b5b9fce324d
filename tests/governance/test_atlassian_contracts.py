"""The contract files: Atlassian's published OpenAPI documents (derived contract files in
governance/atlassian/contracts/), and the derivation that makes them.

The committed files are checked against their sources only where the sources are present
(``settings.ATLASSIAN_SPECS_DIR``); everything else runs in any clone.
"""

import copy
import hashlib
import json

import pytest
from django.conf import settings
from openapi_spec_validator.validation import OpenAPIV30SpecValidator

from governance.atlassian.contracts import CONTRACTS_DIR, derive
from governance.atlassian.contracts.derive import ContractError


def committed(name: str) -> dict:
    return json.loads((CONTRACTS_DIR / name).read_text())


class TestCommittedContracts:
    def test_they_are_byte_identical_to_a_fresh_derivation_from_the_published_documents(self):
        specs_dir = settings.ATLASSIAN_SPECS_DIR
        if not specs_dir.is_dir():
            pytest.skip(f"ATLASSIAN_SPECS_DIR ({specs_dir}) is absent: the contracts cannot be compared with it")
        fresh = derive.derive_all(specs_dir)
        assert sorted(fresh) == sorted(derive.OPERATIONS)
        for name, text in fresh.items():
            assert (CONTRACTS_DIR / name).read_bytes() == text.encode(), f"{name} is stale: run make contracts"

    @pytest.mark.parametrize("name", sorted(derive.OPERATIONS))
    def test_each_holds_exactly_the_listed_operations_and_names_its_source(self, name):
        contract = committed(name)
        held = {(method.upper(), path) for path, item in contract["paths"].items() for method in item}
        assert held == set(derive.OPERATIONS[name])
        assert contract["x-derived-from"]["file"] == name
        assert len(contract["x-derived-from"]["sha256"]) == 64

    @pytest.mark.parametrize(
        ("name", "known_defects"),
        [
            ("admin-user-management.2023-08.json", []),
            ("jira-platform-v3.2026-03.json", []),
            (
                # The published Admin document's own defects, kept as they are.
                "admin-organization.2026-09-24.json",
                [
                    "'GroupCounts' is not valid under any of the given schemas",
                    "Path parameter 'accountId' for 'get' operation in "
                    "'/v2/orgs/{orgId}/directories/{directoryId}/users/{userId}' was not resolved",
                    "Path parameter 'userId' for 'get' operation in "
                    "'/v2/orgs/{orgId}/directories/{directoryId}/users/{userId}' was not resolved",
                ],
            ),
        ],
    )
    def test_each_is_valid_openapi_but_for_its_sources_known_defects(self, name, known_defects):
        """Every reference resolves and nothing OpenAPI requires was dropped along with the prose."""
        errors = OpenAPIV30SpecValidator(committed(name)).iter_errors()
        assert sorted(str(error).splitlines()[0] for error in errors) == known_defects

    def test_they_are_small(self):
        sizes = {name: (CONTRACTS_DIR / name).stat().st_size for name in derive.OPERATIONS}
        assert max(sizes.values()) < 200_000, sizes


def tiny_document() -> dict:
    """A hand-made OpenAPI document with a little of everything the derivation must sort out."""
    return {
        "openapi": "3.0.1",
        "info": {"title": "Tiny", "version": "1.0", "description": "About Tiny.", "contact": {"name": "Team"}},
        "servers": [{"url": "https://api.example.com", "description": "Production"}],
        "security": [{"basic": []}],
        "tags": [{"name": "Users", "description": "User APIs"}],
        "externalDocs": {"url": "https://example.com/docs"},
        "x-narrative": "A long story.",
        "paths": {
            "/users/{id}": {
                "get": {
                    "operationId": "getUser",
                    "summary": "Get a user",
                    "description": "Returns a user.",
                    "tags": ["Users"],
                    "x-scopes": ["read"],
                    "parameters": [{"$ref": "#/components/parameters/Id"}],
                    "security": [{"oauth": ["read:user"]}],
                    "responses": {
                        "200": {
                            "description": "The user.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/User"},
                                    "example": {"id": "1"},
                                    "examples": {"one": {"$ref": "#/components/examples/One"}},
                                }
                            },
                        },
                        "404": {"$ref": "#/components/responses/NotFound"},
                    },
                },
                "delete": {
                    "requestBody": {"$ref": "#/components/requestBodies/Reason"},
                    "responses": {"204": {"description": "Gone."}},
                },
            },
            "/groups": {"get": {"responses": {"200": {"$ref": "#/components/responses/Groups"}}}},
        },
        "components": {
            "schemas": {
                "User": {
                    "type": "object",
                    "description": "A user.",
                    "required": ["id", "description"],
                    "properties": {
                        "id": {"type": "string", "example": "1"},
                        "description": {"type": "string", "description": "What users say about themselves."},
                        "summary": {"$ref": "#/components/schemas/Summary"},
                        "x-flag": {"type": "boolean"},
                        "kind": {"type": "string", "enum": ["a", "b"], "default": "a", "x-experimental": True},
                        "settings": {"type": "object", "default": {"description": "a default is data"}},
                    },
                },
                "Summary": {
                    "oneOf": [{"$ref": "#/components/schemas/Group"}, {"type": "string"}],
                    "discriminator": {
                        "propertyName": "kind",
                        "mapping": {"team": "Team", "org": "#/components/schemas/Org"},
                    },
                },
                "Team": {"type": "object"},
                "Org": {"type": "object"},
                "Group": {"allOf": [{"$ref": "#/components/schemas/Named"}], "externalDocs": {"url": "https://x"}},
                "Named": {"type": "object", "properties": {"name": {"type": "string"}}},
                "Error": {"type": "object", "properties": {"code": {"type": "string"}}},
                "GroupPage": {"type": "array", "items": {"$ref": "#/components/schemas/Group"}},
            },
            "parameters": {
                "Id": {"name": "id", "in": "path", "required": True, "description": "The id.", "schema": {}},
                "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer"}},
            },
            "responses": {
                "NotFound": {
                    "description": "Not found.",
                    "headers": {"X-Request-Id": {"$ref": "#/components/headers/RequestId"}},
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
                "Groups": {
                    "description": "Groups.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GroupPage"}}},
                },
            },
            "headers": {"RequestId": {"description": "A trace id.", "schema": {"type": "string"}}},
            "requestBodies": {"Reason": {"content": {"text/plain": {"schema": {"type": "string"}}}}},
            "examples": {"One": {"value": {"id": "1"}}},
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic", "description": "Email and API token."},
                "oauth": {
                    "type": "oauth2",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": "https://auth.example.com/authorize",
                            "tokenUrl": "https://auth.example.com/token",
                            "scopes": {"read:user": "Read users.", "write:user": "Write users."},
                        }
                    },
                },
                "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
            },
        },
    }


def derive_tiny(*operations: tuple[str, str], document: dict | None = None) -> dict:
    return derive.derive(document or tiny_document(), operations or [("GET", "/users/{id}")], source="t", sha256="0")


class TestDerivation:
    def test_operations_not_listed_are_dropped(self):
        assert list(derive_tiny()["paths"]) == ["/users/{id}"]
        assert list(derive_tiny()["paths"]["/users/{id}"]) == ["get"]
        both = derive_tiny(("GET", "/users/{id}"), ("DELETE", "/users/{id}"))["paths"]
        assert sorted(both["/users/{id}"]) == ["delete", "get"]

    def test_components_reached_through_references_are_kept_and_no_others(self):
        components = derive_tiny()["components"]
        assert sorted(components) == ["headers", "parameters", "responses", "schemas", "securitySchemes"]
        # User -> Summary -> Group -> Named, Summary's discriminator -> Team and Org, NotFound -> Error and
        # -> the RequestId header.
        assert sorted(components["schemas"]) == ["Error", "Group", "Named", "Org", "Summary", "Team", "User"]
        assert list(components["parameters"]) == ["Id"]
        assert list(components["responses"]) == ["NotFound"]
        assert list(components["headers"]) == ["RequestId"]
        assert sorted(components["securitySchemes"]) == ["basic", "oauth"]  # named by the document, the operation

    def test_another_operation_brings_its_own_components(self):
        components = derive_tiny(("GET", "/groups"))["components"]
        assert sorted(components["schemas"]) == ["Group", "GroupPage", "Named"]
        assert list(components["responses"]) == ["Groups"]
        deleting = derive_tiny(("DELETE", "/users/{id}"))["components"]
        assert list(deleting["requestBodies"]) == ["Reason"]
        assert "schemas" not in deleting

    def test_prose_goes_but_a_property_named_description_or_summary_stays(self):
        user = derive_tiny()["components"]["schemas"]["User"]
        assert user == {
            "type": "object",
            "required": ["id", "description"],
            "properties": {
                "id": {"type": "string"},
                "description": {"type": "string"},
                "summary": {"$ref": "#/components/schemas/Summary"},
                "x-flag": {"type": "boolean"},
                "kind": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "settings": {"type": "object", "default": {"description": "a default is data"}},
            },
        }

    def test_operations_keep_their_structure_without_prose(self):
        contract = derive_tiny()
        assert contract["paths"]["/users/{id}"]["get"] == {
            "operationId": "getUser",
            "parameters": [{"$ref": "#/components/parameters/Id"}],
            "security": [{"oauth": ["read:user"]}],
            "responses": {
                # OpenAPI requires a response's description: it stays, empty.
                "200": {
                    "description": "",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}},
                },
                "404": {"$ref": "#/components/responses/NotFound"},
            },
        }
        assert contract["components"]["responses"]["NotFound"]["description"] == ""
        assert contract["components"]["headers"]["RequestId"] == {"schema": {"type": "string"}}
        scopes = contract["components"]["securitySchemes"]["oauth"]["flows"]["authorizationCode"]["scopes"]
        assert scopes == {"read:user": "", "write:user": ""}

    def test_the_top_level_keeps_version_title_servers_security_and_records_the_source(self):
        contract = derive.derive(tiny_document(), [("GET", "/groups")], source="tiny.json", sha256="ab12")
        assert sorted(contract) == ["components", "info", "openapi", "paths", "security", "servers", "x-derived-from"]
        assert contract["info"] == {"title": "Tiny", "version": "1.0"}
        assert contract["servers"] == [{"url": "https://api.example.com"}]
        assert contract["security"] == [{"basic": []}]
        assert contract["x-derived-from"] == {"file": "tiny.json", "sha256": "ab12"}

    def test_an_operation_the_document_lacks_is_a_clear_error(self):
        with pytest.raises(ContractError, match=r"t: no operation POST /users/\{id\}"):
            derive_tiny(("POST", "/users/{id}"))
        with pytest.raises(ContractError, match="no operation GET /nowhere"):
            derive_tiny(("GET", "/nowhere"))

    def test_a_reference_that_does_not_resolve_is_a_clear_error(self):
        document = tiny_document()
        del document["components"]["schemas"]["Named"]
        with pytest.raises(ContractError, match="'#/components/schemas/Named' does not resolve"):
            derive_tiny(document=document)

    def test_the_source_document_is_left_untouched(self):
        document = tiny_document()
        derive_tiny(("GET", "/users/{id}"), ("GET", "/groups"), document=document)
        assert document == tiny_document()

    def test_the_text_is_stable_whatever_the_order_of_the_source(self):
        text = derive.render(derive_tiny())
        reordered = json.loads(json.dumps(tiny_document()), object_pairs_hook=lambda pairs: dict(reversed(pairs)))
        assert derive.render(derive_tiny(document=reordered)) == text
        assert text.endswith("}\n")
        assert text.startswith('{\n "components": {\n  "headers": {')


class TestCommand:
    @pytest.fixture
    def tiny(self, tmp_path, monkeypatch):
        """A specs folder holding tiny.json, and an empty contracts folder in place of the real one."""
        specs, contracts = tmp_path / "specs", tmp_path / "contracts"
        specs.mkdir()
        contracts.mkdir()
        (specs / "tiny.json").write_text(json.dumps(tiny_document()))
        monkeypatch.setattr(derive, "OPERATIONS", {"tiny.json": (("GET", "/groups"),)})
        monkeypatch.setattr(derive, "CONTRACTS_DIR", contracts)
        return specs, contracts

    def test_it_writes_the_contracts_then_check_finds_them_in_step(self, tiny, capsys):
        specs, contracts = tiny
        assert derive.main(["--specs", str(specs), "--check"]) == 1  # nothing written yet
        assert derive.main(["--specs", str(specs)]) == 0
        written = json.loads((contracts / "tiny.json").read_text())
        sha = hashlib.sha256((specs / "tiny.json").read_bytes()).hexdigest()
        assert written["x-derived-from"] == {"file": "tiny.json", "sha256": sha}
        assert derive.main(["--specs", str(specs), "--check"]) == 0
        assert "in step" in capsys.readouterr().out

    def test_check_exits_1_when_the_source_changed(self, tiny, capsys):
        specs, contracts = tiny
        derive.main(["--specs", str(specs)])
        before = (contracts / "tiny.json").read_bytes()
        changed = copy.deepcopy(tiny_document())
        changed["components"]["schemas"]["Named"]["properties"]["name"]["maxLength"] = 64
        (specs / "tiny.json").write_text(json.dumps(changed))
        assert derive.main(["--specs", str(specs), "--check"]) == 1
        assert "stale:" in capsys.readouterr().err
        assert (contracts / "tiny.json").read_bytes() == before  # --check writes nothing

    def test_a_missing_specs_folder_or_operation_is_reported_not_raised(self, tiny, tmp_path, monkeypatch, capsys):
        specs, _ = tiny
        assert derive.main(["--specs", str(tmp_path / "absent")]) == 2
        monkeypatch.setattr(derive, "OPERATIONS", {"tiny.json": (("PUT", "/groups"),)})
        assert derive.main(["--specs", str(specs)]) == 2
        assert "no operation PUT /groups" in capsys.readouterr().err
