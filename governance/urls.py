from django.contrib import admin
from django.urls import include, path

from governance import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("access/", include("policies.access.urls")),
    path("api/", include("governance.api_urls")),
]
