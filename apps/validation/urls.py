"""Pages of the validation runs: the history, one run's report and its figures, and "run now"."""

from django.urls import path

from . import views

app_name = "validation"

urlpatterns = [
    path("", views.run_list, name="run-list"),
    path("runs/new/", views.run_create, name="run-create"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/figures/<slug:population>/<slug:name>.svg", views.run_figure, name="run-figure"),
]
