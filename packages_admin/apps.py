from django.apps import AppConfig


class PackagesAdminConfig(AppConfig):
    name = "packages_admin"
    # The admin lists the app's models under this heading: Settings > System > Packages.
    verbose_name = "System"
