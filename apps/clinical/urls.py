"""Pages of the clinical records, mounted at ``/patients/``: fixed prefixes before ``<registry_id>``."""

from django.urls import path

from . import views

app_name = "clinical"

urlpatterns = [
    path("", views.patient_list, name="patient-list"),
    path("new/", views.patient_create, name="patient-create"),
    path("history/<slug:model>/<int:pk>/", views.record_history, name="record-history"),
    path("records/<slug:model>/<int:pk>/edit/", views.record_edit, name="record-edit"),
    path("records/<slug:model>/<int:pk>/delete/", views.record_delete, name="record-delete"),
    path("episodes/<int:pk>/", views.episode_detail, name="episode-detail"),
    path("episodes/<int:episode_pk>/responses/new/", views.response_create, name="response-create"),
    path("episodes/<int:episode_pk>/follow-ups/new/", views.follow_up_create, name="follow-up-create"),
    path("<str:registry_id>/", views.patient_detail, name="patient-detail"),
    path("<str:registry_id>/initial-course/new/", views.initial_course_create, name="initial-course-create"),
    path("<str:registry_id>/adverse-events/new/", views.adverse_event_create, name="adverse-event-create"),
    path("<str:registry_id>/episodes/new/", views.episode_create, name="episode-create"),
    path("<str:registry_id>/transfer/", views.patient_transfer, name="patient-transfer"),
]
