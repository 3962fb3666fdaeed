from django.db import models


class SitePermission(models.Model):
    """Holds the permissions that belong to no stored object (the System page).

    No table: Django creates permissions for unmanaged models too, and the matrix in
    accounts/roles.py hands them to the groups like any other.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_system", "Can see the System page (this machine's and a worker's report)")]

    def __str__(self):
        return "site permissions"
