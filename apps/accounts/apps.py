from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, sites (centers) and the memberships that give users their roles."""

    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and sites"
