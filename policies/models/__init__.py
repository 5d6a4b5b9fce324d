"""What should happen to whom, and when: policies, exemptions, enforcement decisions."""

from policies.models.access_requests import AccessRequest
from policies.models.enforcement import OPEN_STATUSES, Enforcement, EnforcementStatus
from policies.models.exemptions import Exemption, ExemptionKind
from policies.models.onboarding import OnboardingItem, OnboardingItemStatus, OnboardingRule
from policies.models.policies import ClaimScope, InactivityPolicy, PolicyAction, PolicyMode, PolicyRun, Trigger
from policies.models.reviews import (
    CampaignStatus,
    GiveBackStatus,
    GroupReviewOwner,
    ItemOutcome,
    ReviewCampaign,
    ReviewDecision,
    ReviewItem,
    ReviewScope,
    UndecidedOutcome,
)

__all__ = [
    "OPEN_STATUSES",
    "AccessRequest",
    "CampaignStatus",
    "ClaimScope",
    "Enforcement",
    "EnforcementStatus",
    "Exemption",
    "ExemptionKind",
    "GiveBackStatus",
    "GroupReviewOwner",
    "InactivityPolicy",
    "ItemOutcome",
    "OnboardingItem",
    "OnboardingItemStatus",
    "OnboardingRule",
    "PolicyAction",
    "PolicyMode",
    "PolicyRun",
    "ReviewCampaign",
    "ReviewDecision",
    "ReviewItem",
    "ReviewScope",
    "Trigger",
    "UndecidedOutcome",
]
