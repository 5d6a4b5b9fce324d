"""The lease a policy run holds (governance.runs.locks), and how a run row names it so that
governance.runs can tell an abandoned run from a live one (registered in PoliciesConfig.ready)."""

import re

from governance.runs.services import register_run_lease

_SUBJECT = re.compile(r"^policy:(\d+)\b")  # policies.services.runs writes "policy:<pk> <name>"


def policy_lease(policy_pk) -> str:
    return f"policy:{policy_pk}"


def policy_run_lease(run) -> str | None:
    """The lease of a policy run, from its subject (None when the subject names no policy)."""
    match = _SUBJECT.match(run.subject)
    return policy_lease(match[1]) if match else None


def register_run_leases() -> None:
    register_run_lease("policy", policy_run_lease)
