"""Derive the contract files from Atlassian's published OpenAPI documents.

    python -m governance.atlassian.contracts.derive [--specs DIR] [--check]

The published documents live outside the repository (``settings.ATLASSIAN_SPECS_DIR``) and the
Jira one alone is 3.4 MB. A contract file keeps, from one document, only the operations listed in
:data:`OPERATIONS` (what the client and the simulator use) with their parameters, request bodies,
responses and security, the components they reach through ``$ref`` (transitively) and the security
schemes they name, and ``openapi``, ``info`` (title, version), ``servers`` and ``security``. Prose
is dropped (``description``, ``summary``, ``example(s)``, ``externalDocs``, ``tags``, ``x-*``) but
names never are: a schema property called ``description`` is data. Two fields OpenAPI requires stay,
emptied: a response's ``description`` and the explanation of each OAuth scope. Nothing else is
changed, defects included: the tests that load a contract work around those, as with the source.

Each file records its source's name and sha-256 under ``x-derived-from``. ``--check`` derives in
memory and exits 1 when a committed file differs from what the source gives today.
"""

import argparse
import copy
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from governance.atlassian.contracts import CONTRACTS_DIR

ADMIN_V2 = "/v2/orgs/{orgId}/directories/{directoryId}"
JIRA = "/rest/api/3"

# (method, path as the document spells it), grouped by document. "client" is
# governance/atlassian/client/client.py, "sim" is governance/atlassian/simulator/handlers_*.py.
OPERATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    # Organizations (Admin) API; paths are relative to its server https://api.atlassian.com/admin.
    "admin-organization.2026-09-24.json": (
        ("GET", "/v1/orgs"),  # sim handlers_admin_v1.orgs
        ("GET", "/v1/orgs/{orgId}"),  # client organization (preflight); sim handlers_admin_v1.org
        ("GET", "/v1/orgs/{orgId}/users"),  # client iter_managed_account_pages; sim v1_users
        ("GET", "/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates"),  # client last_active_dates; sim
        ("POST", "/v1/orgs/{orgId}/users/{userId}/roles/assign"),  # client user_role_assign; sim role_assign
        ("POST", "/v1/orgs/{orgId}/users/{userId}/roles/revoke"),  # client user_role_revoke; sim role_revoke
        ("POST", "/v1/orgs/{orgId}/users/{userId}/role-assignments/assign"),  # sim org_role_assign
        ("POST", "/v1/orgs/{orgId}/users/{userId}/role-assignments/revoke"),  # sim org_role_revoke
        ("GET", "/v2/orgs/{orgId}/directories"),  # client directories (preflight); sim handlers_admin.directories
        ("POST", ADMIN_V2 + "/users/search"),  # client iter_user_pages; sim user_search
        ("GET", ADMIN_V2 + "/users/count"),  # client count_users; sim user_count
        ("GET", ADMIN_V2 + "/users"),  # sim user_list (deprecated listing)
        ("GET", ADMIN_V2 + "/users/{userId}"),  # sim user_details
        ("DELETE", ADMIN_V2 + "/users/{accountId}"),  # client user_remove; sim user_remove
        ("POST", ADMIN_V2 + "/users/{accountId}/suspend"),  # client user_suspend; sim user_suspend
        ("POST", ADMIN_V2 + "/users/{accountId}/restore"),  # client user_restore; sim user_restore
        ("GET", ADMIN_V2 + "/users/{accountId}/role-assignments"),  # client user_role_assignments; sim
        ("POST", ADMIN_V2 + "/groups/search"),  # client iter_group_pages; sim group_search
        ("GET", ADMIN_V2 + "/groups/count"),  # sim group_count
        ("GET", ADMIN_V2 + "/groups/{groupId}"),  # sim group_details
        ("GET", ADMIN_V2 + "/groups/{groupId}/role-assignments"),  # client group_role_assignments; sim
        ("POST", ADMIN_V2 + "/groups/{groupId}/role-assignments/assign"),  # sim group_role_assign
        ("POST", ADMIN_V2 + "/groups/{groupId}/role-assignments/revoke"),  # sim group_role_revoke
        ("POST", ADMIN_V2 + "/groups/{groupId}/memberships"),  # client group_membership_add; sim membership_add
        ("DELETE", ADMIN_V2 + "/groups/{groupId}/memberships/{accountId}"),  # client group_membership_remove; sim
    ),
    # User management API (server https://api.atlassian.com).
    "admin-user-management.2023-08.json": (
        ("GET", "/users/{account_id}/manage"),  # sim handlers_usermgmt.manage
        ("GET", "/users/{account_id}/manage/profile"),  # sim handlers_usermgmt.profile
        ("POST", "/users/{account_id}/manage/lifecycle/disable"),  # client lifecycle_disable; sim disable
        ("POST", "/users/{account_id}/manage/lifecycle/enable"),  # client lifecycle_enable; sim enable
        ("POST", "/users/{account_id}/manage/lifecycle/delete"),  # client lifecycle_delete; sim delete
        ("POST", "/users/{account_id}/manage/lifecycle/cancel-delete"),  # client lifecycle_cancel_delete; sim
    ),
    # Jira Cloud platform REST API v3 (server https://your-domain.atlassian.net).
    "jira-platform-v3.2026-03.json": (
        ("GET", JIRA + "/applicationrole"),  # client application_roles; sim handlers_jira.application_roles
        ("GET", JIRA + "/applicationrole/{key}"),  # sim application_role
        ("GET", JIRA + "/users/search"),  # client iter_jira_user_pages; sim users_search
        ("GET", JIRA + "/users"),  # sim users_search (the older listing)
        ("GET", JIRA + "/user"),  # sim user
        ("GET", JIRA + "/user/groups"),  # sim user_groups
        ("GET", JIRA + "/group/member"),  # client iter_jira_group_members; sim group_members
        ("GET", JIRA + "/group/bulk"),  # sim group_bulk
        ("POST", JIRA + "/group/user"),  # sim group_user_add
        ("DELETE", JIRA + "/group/user"),  # sim group_user_remove
    ),
}

# Object fields that are prose for humans; extensions (``x-*``) go too.
PROSE = frozenset({"description", "summary", "example", "examples", "externalDocs", "tags"})
# Fields whose value maps names (properties, status codes, media types, header names...) to
# objects: the names are kept whatever they are, even "description".
NAME_MAPS = frozenset(
    {
        "callbacks",
        "content",
        "encoding",
        "headers",
        "links",
        "parameters",
        "paths",
        "patternProperties",
        "properties",
        "requestBodies",
        "responses",
        "schemas",
        "securitySchemes",
        "variables",
    }
)
# Fields whose value is data, copied as it is (a default may well be an object with a "description").
LITERALS = frozenset({"const", "default", "enum", "security"})
COMPONENTS = "#/components/"


class ContractError(ValueError):
    """A listed operation, a source document or a reference that cannot be derived."""


class _Stripper:
    """Copies parts of a document without prose, noting every ``$ref`` met on the way."""

    def __init__(self) -> None:
        self.refs: set[str] = set()

    def node(self, value: Any, *, response: bool = False) -> Any:
        if isinstance(value, list):
            return [self.node(item) for item in value]
        if isinstance(value, dict):
            return self._object(value, response=response)
        return value

    def _object(self, node: Mapping[str, Any], *, response: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in PROSE or key.startswith("x-"):
                continue
            if key == "$ref" and isinstance(value, str):
                self.refs.add(value)
            if key in LITERALS:
                out[key] = copy.deepcopy(value)
            elif key == "mapping" and isinstance(value, dict):
                out[key] = dict(value)
                self.refs.update(_mapped_schema(target) for target in value.values())
            elif key == "scopes" and isinstance(value, dict):
                out[key] = dict.fromkeys(value, "")  # scope names are data, their explanations prose
            elif key in NAME_MAPS and isinstance(value, dict):
                out[key] = {name: self.node(item, response=key == "responses") for name, item in value.items()}
            else:
                out[key] = self.node(value)
        if response and "description" in node:
            out["description"] = ""  # OpenAPI requires it on a response: kept, emptied
        return out


def _mapped_schema(target: str) -> str:
    """A discriminator's mapping names a schema by reference or by bare name: both keep it."""
    return target if target.startswith("#") else f"{COMPONENTS}schemas/{target}"


def _component(ref: str, source: str) -> tuple[str, str]:
    """``#/components/schemas/A~1B`` -> ("schemas", "A/B")."""
    parts = ref[len(COMPONENTS) :].split("/") if ref.startswith(COMPONENTS) else []
    if len(parts) != 2:
        raise ContractError(f"{source}: reference {ref!r} is not to a component")
    section, name = (part.replace("~1", "/").replace("~0", "~") for part in parts)
    return section, name


def _security_names(requirements: Any) -> set[str]:
    return {name for requirement in requirements or () for name in requirement}


def derive(
    document: Mapping[str, Any], operations: Iterable[tuple[str, str]], *, source: str, sha256: str
) -> dict[str, Any]:
    """The contract of ``document`` for ``operations`` (method, path); ``source``/``sha256`` are recorded."""
    stripper = _Stripper()
    paths: dict[str, dict[str, Any]] = {}
    security = _security_names(document.get("security"))
    for method, path in operations:
        item = document.get("paths", {}).get(path, {})
        operation = item.get(method.lower())
        if not isinstance(operation, dict):
            raise ContractError(f"{source}: no operation {method.upper()} {path}")
        kept = paths.setdefault(path, {})
        for shared in ("parameters", "servers"):
            if shared in item:
                kept[shared] = stripper.node(item[shared])
        kept[method.lower()] = stripper.node(operation)
        security |= _security_names(operation.get("security"))

    components: dict[str, dict[str, Any]] = {}
    available = document.get("components", {})
    schemes = available.get("securitySchemes", {})
    for name in sorted(security & schemes.keys()):  # a scheme the document lacks stays a defect of the source
        components.setdefault("securitySchemes", {})[name] = stripper.node(schemes[name])
    done: set[str] = set()
    while pending := stripper.refs - done:
        ref = pending.pop()
        done.add(ref)
        section, name = _component(ref, source)
        if name not in available.get(section, {}):
            raise ContractError(f"{source}: reference {ref!r} does not resolve")
        components.setdefault(section, {})[name] = stripper.node(
            available[section][name], response=section == "responses"
        )

    contract: dict[str, Any] = {
        "openapi": document["openapi"],
        "info": {key: document["info"][key] for key in ("title", "version")},
        "paths": paths,
        "components": components,
        "x-derived-from": {"file": source, "sha256": sha256},
    }
    if "servers" in document:
        contract["servers"] = stripper.node(document["servers"])
    if "security" in document:
        contract["security"] = copy.deepcopy(document["security"])
    return contract


def render(contract: Mapping[str, Any]) -> str:
    """Stable text: sorted keys, one-space indent, trailing newline, so diffs stay reviewable."""
    return json.dumps(contract, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def derive_file(path: Path, operations: Iterable[tuple[str, str]]) -> str:
    """The contract text of one source document."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ContractError(f"cannot read {path}: {exc.strerror}") from exc
    document = json.loads(raw)
    return render(derive(document, operations, source=path.name, sha256=hashlib.sha256(raw).hexdigest()))


def derive_all(specs_dir: Path) -> dict[str, str]:
    """Every contract's file name and text, derived from the documents in ``specs_dir``."""
    return {name: derive_file(specs_dir / name, operations) for name, operations in OPERATIONS.items()}


def stale(specs_dir: Path, contracts_dir: Path | None = None) -> list[str]:
    """The contract files that are missing or differ from what the sources give today."""
    contracts_dir = contracts_dir or CONTRACTS_DIR
    return [
        name
        for name, text in derive_all(specs_dir).items()
        if not (contracts_dir / name).is_file() or (contracts_dir / name).read_bytes() != text.encode()
    ]


def _default_specs_dir() -> Path:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    from django.conf import settings

    return Path(settings.ATLASSIAN_SPECS_DIR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=Path, help="folder of the published documents (settings.ATLASSIAN_SPECS_DIR)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a contract file is stale")
    args = parser.parse_args(argv)
    specs_dir = args.specs or _default_specs_dir()
    if not specs_dir.is_dir():
        print(f"no folder {specs_dir}: give --specs or set ATLASSIAN_SPECS_DIR", file=sys.stderr)
        return 2
    try:
        if args.check:
            outdated = stale(specs_dir)
            for name in outdated:
                print(f"stale: {CONTRACTS_DIR / name} (run make contracts)", file=sys.stderr)
            if not outdated:
                print(f"contracts in step with {specs_dir}")
            return 1 if outdated else 0
        for name, text in derive_all(specs_dir).items():
            (CONTRACTS_DIR / name).write_bytes(text.encode())
            print(f"{CONTRACTS_DIR / name}: {len(text.encode()):,} bytes")
    except ContractError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
