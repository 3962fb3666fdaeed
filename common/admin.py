"""Admin pieces shared by the apps."""


class ReadOnlyInlineMixin:
    """An inline that shows records (jobs, hook runs, stopped containers, approvals) and
    never lets anyone add, change or delete them from the parent's page."""

    can_delete = False
    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
