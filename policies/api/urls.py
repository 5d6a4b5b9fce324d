from rest_framework.routers import SimpleRouter

from policies.api import onboarding, reviews, views

router = SimpleRouter()
router.register("policies", views.PolicyViewSet, basename="policy")
router.register("exemptions", views.ExemptionViewSet, basename="exemption")
router.register("enforcements", views.EnforcementViewSet, basename="enforcement")
router.register("onboarding-rules", onboarding.OnboardingRuleViewSet, basename="onboardingrule")
router.register("access-requests", views.AccessRequestViewSet, basename="accessrequest")
# Items first: "reviews/items/" is no campaign (campaign ids are digits only anyway).
router.register("reviews/items", reviews.ReviewItemViewSet, basename="reviewitem")
router.register("reviews", reviews.ReviewCampaignViewSet, basename="reviewcampaign")

urlpatterns = router.urls
