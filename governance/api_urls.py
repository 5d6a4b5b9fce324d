"""``/api/``: the root, the OpenAPI schema, its Swagger UI, and each app's endpoints.

The upper layers' URL confs are named by dotted path only (DESIGN.md section 3).
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from governance.api import views
from governance.notifications.api import WebhookSubscriptionViewSet

app_name = "api"

router = SimpleRouter()
router.register("runs", views.TaskRunViewSet, basename="run")
router.register("audit-events", views.AuditEventViewSet, basename="auditevent")
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")

urlpatterns = [
    path("", views.ApiRootView.as_view(), name="root"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its init script from ?script rather than inline: script-src 'self' (CSP).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    path("", include("accounts.api.urls")),
    path("", include("policies.api.urls")),
    *router.urls,
]
