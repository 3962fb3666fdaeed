"""Users that another system signed in (a reverse proxy, an OpenID provider) join a role's group."""

from django.contrib.auth.models import Group

from accounts.roles import Role


def set_roles(user, roles) -> None:
    """Make ``user`` a staff member in exactly these role groups (other groups stay)."""
    wanted = {Role(role).value for role in roles}
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*[group for group in role_groups if group.name not in wanted])
    user.groups.add(*[group for group in role_groups if group.name in wanted])


def prepare_new_user(user, roles) -> None:
    """A user created on first sign-in: staff (the admin site is borgui's face), no password of
    its own (it signs in only through whoever created it), in these role groups."""
    user.is_staff = True
    user.set_unusable_password()
    user.save(update_fields=["is_staff", "password"])
    set_roles(user, roles)


def staff_when_given_a_role(sender, instance, action, pk_set, reverse, **kwargs):
    """An admin who puts a user in viewer, operator or admin means them to use the site:
    Django's separate "staff status" box would otherwise leave them locked out."""
    if action != "post_add" or reverse or not pk_set:
        return
    if not instance.is_staff and Group.objects.filter(pk__in=pk_set, name__in=Role.values).exists():
        instance.is_staff = True
        instance.save(update_fields=["is_staff"])
