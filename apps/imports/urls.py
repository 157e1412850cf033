"""Bulk import pages, mounted at ``/imports/``."""

from django.urls import path

from . import views

app_name = "imports"

urlpatterns = [
    path("", views.index, name="index"),
    path("template/<str:site_code>.csv", views.template_download, name="template"),
    path("upload/", views.upload, name="upload"),
    path("<int:pk>/", views.job_detail, name="job-detail"),
    path("<int:pk>/errors.csv", views.job_errors_csv, name="job-errors"),
    path("<int:pk>/import/", views.job_confirm, name="job-confirm"),
]
