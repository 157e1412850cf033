"""Pages of exports: the workspace, projects, a new request, a request with its progress, decisions, downloads."""

from django.urls import path

from . import views

app_name = "exports"

urlpatterns = [
    path("", views.index, name="index"),
    path("queue/", views.queue, name="queue"),
    path("projects/new/", views.project_create, name="project-create"),
    path("projects/<int:pk>/", views.project_detail, name="project-detail"),
    path("projects/<int:pk>/members/", views.project_members, name="project-members"),
    path("projects/<int:pk>/request/", views.request_create, name="request-create"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/decide/", views.request_decide, name="request-decide"),
    path("requests/<int:pk>/download/", views.request_download, name="request-download"),
]
