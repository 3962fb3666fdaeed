from django.apps import AppConfig


class PackagesAdminConfig(AppConfig):
    name = "packages_admin"
    verbose_name = "System packages"
