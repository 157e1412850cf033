from django.urls import path

from . import views

app_name = "assessments"

urlpatterns = [
    path("calculator/", views.calculator, name="calculator"),
    path("episodes/<int:pk>/enroll/", views.episode_enroll, name="episode-enroll"),
    path("blinding/", views.blinding, name="blinding"),
]
