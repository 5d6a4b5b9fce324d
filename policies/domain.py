"""The engine's vocabulary: the values policies and accounts take, as plain enums (no Django).

``policies/engine.py`` is pure (DESIGN.md §3), so it cannot use the models' ``TextChoices``. These
hold the same values, and tests/policies/test_domain.py proves each equal to its ``TextChoices``
(``Trigger`` to ``policies.models.Trigger``, ``AccountStatus`` to ``accounts.models.AccountStatus``
...): a value added to one and not the other fails there. StrEnum members are strings, so they
compare and hash equal to the values the models store.
"""

from enum import StrEnum


class Trigger(StrEnum):
    INACTIVE = "inactive"
    NEVER_ACTIVE = "never_active"
    IN_STATE = "in_state"


class PolicyAction(StrEnum):
    NOTIFY = "notify"
    REMOVE_PRODUCT_ACCESS = "remove_product_access"
    SUSPEND = "suspend"
    DEACTIVATE = "deactivate"
    DELETE = "delete"


class ClaimScope(StrEnum):
    ALL = "all"
    MANAGED = "managed"
    EXTERNAL = "external"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEACTIVATED = "deactivated"
    PENDING_DELETION = "pending_deletion"
    NOT_IN_DIRECTORY = "not_in_directory"
    REMOVED = "removed"
    UNKNOWN = "unknown"


class AccountType(StrEnum):
    ATLASSIAN = "atlassian"
    APP = "app"
    CUSTOMER = "customer"
    UNKNOWN = "unknown"
