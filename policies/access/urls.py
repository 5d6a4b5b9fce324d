from django.urls import path

from policies.access import views

app_name = "access"

urlpatterns = [
    path("", views.request_link, name="request_link"),
    path("restore/<str:token>/", views.restore, name="restore"),
    path("extend/<str:token>/", views.extend, name="extend"),
    path("review/<str:token>/", views.review, name="review"),
]
