from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users and sign-in"

    def ready(self):
        from accounts.roles import sync_after_migrate

        # After every migrate (and every test-database flush) the three groups hold exactly
        # what the matrix in accounts/roles.py says, including permissions of apps merged later.
        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="accounts.sync_role_groups")
