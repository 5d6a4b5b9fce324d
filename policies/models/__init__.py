"""What should happen to whom, and when: policies, exemptions, enforcement decisions."""

from policies.models.access_requests import AccessRequest
from policies.models.enforcement import OPEN_STATUSES, Enforcement, EnforcementStatus
from policies.models.exemptions import Exemption, ExemptionKind
from policies.models.onboarding import OnboardingItem, OnboardingItemStatus, OnboardingRule
from policies.models.policies import ClaimScope, InactivityPolicy, PolicyAction, PolicyMode, PolicyRun, Trigger

__all__ = [
    "OPEN_STATUSES",
    "AccessRequest",
    "ClaimScope",
    "Enforcement",
    "EnforcementStatus",
    "Exemption",
    "ExemptionKind",
    "InactivityPolicy",
    "OnboardingItem",
    "OnboardingItemStatus",
    "OnboardingRule",
    "PolicyAction",
    "PolicyMode",
    "PolicyRun",
    "Trigger",
]
