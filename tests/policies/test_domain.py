"""The engine's enums (policies/domain.py, no Django) hold exactly the values of the models' TextChoices."""

import ast
from pathlib import Path

import pytest

import accounts.models as account_models
import policies.models as policy_models
from policies import domain


@pytest.mark.parametrize(
    ("engine_enum", "choices"),
    [
        (domain.Trigger, policy_models.Trigger),
        (domain.PolicyAction, policy_models.PolicyAction),
        (domain.ClaimScope, policy_models.ClaimScope),
        (domain.AccountStatus, account_models.AccountStatus),
        (domain.AccountType, account_models.AccountType),
    ],
    ids=lambda value: value.__name__,
)
def test_each_engine_enum_has_the_values_and_names_of_its_text_choices(engine_enum, choices):
    assert {m.name: m.value for m in engine_enum} == {m.name: m.value for m in choices}


def test_the_engine_and_its_enums_import_nothing_from_django_or_the_models():
    for module in ("engine.py", "domain.py"):
        tree = ast.parse((Path(domain.__file__).parent / module).read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not {name for name in imported if name.split(".")[0] in {"django", "accounts", "governance"}}, module
        stdlib = {"fnmatch", "re", "functools", "collections.abc", "dataclasses", "datetime", "enum", "types", "typing"}
        assert imported <= {*stdlib, "policies.domain"}, module


def test_an_action_reads_as_words_in_lists_and_an_old_code_as_itself():
    from policies.models import Enforcement
    from policies.models.policies import action_label

    assert action_label("remove_product_access") == "Remove product access"
    assert action_label("deactivate") == "Deactivate"  # without "(managed accounts only)"
    assert action_label("archive") == "archive"
    assert Enforcement(action="remove_product_access").action_label == "Remove product access"
