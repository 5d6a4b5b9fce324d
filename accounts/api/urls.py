from rest_framework.routers import SimpleRouter

from accounts.api import views

router = SimpleRouter()
# Before "accounts": its detail route takes digits only, but the order makes the intent plain.
router.register("accounts/bulk", views.BulkActionViewSet, basename="account-bulk")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("groups", views.GroupViewSet, basename="group")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("products", views.ProductViewSet, basename="product")
router.register("organizations", views.OrganizationViewSet, basename="organization")

urlpatterns = router.urls
