from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users and sign-in"

    def ready(self):
        from django.contrib.auth import get_user_model

        from accounts.roles import sync_after_migrate
        from accounts.users import staff_when_given_a_role

        # After every migrate (and every test-database flush) the three groups hold exactly
        # what the matrix in accounts/roles.py says, including permissions of apps merged later.
        post_migrate.connect(sync_after_migrate, sender=self, dispatch_uid="accounts.sync_role_groups")
        m2m_changed.connect(
            staff_when_given_a_role, sender=get_user_model().groups.through, dispatch_uid="accounts.staff_role"
        )
