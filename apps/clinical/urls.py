from django.urls import path

app_name = "clinical"

urlpatterns: list = []
