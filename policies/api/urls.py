from rest_framework.routers import SimpleRouter

from policies.api import onboarding, views

router = SimpleRouter()
router.register("policies", views.PolicyViewSet, basename="policy")
router.register("exemptions", views.ExemptionViewSet, basename="exemption")
router.register("enforcements", views.EnforcementViewSet, basename="enforcement")
router.register("onboarding-rules", onboarding.OnboardingRuleViewSet, basename="onboardingrule")
router.register("access-requests", views.AccessRequestViewSet, basename="accessrequest")

urlpatterns = router.urls
