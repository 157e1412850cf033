from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("two-factor/", views.two_factor_view, name="two-factor"),
    path("api-tokens/", views.api_tokens_view, name="api-tokens"),
    path("api-tokens/revoke/", views.api_token_revoke_view, name="api-token-revoke"),
]
