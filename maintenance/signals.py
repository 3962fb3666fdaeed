"""Schedules follow the settings (and the plan's enabled flag) when they are saved."""

from django.db import transaction


def repository_settings_saved(sender, instance, **kwargs):
    from maintenance.services import scheduling

    transaction.on_commit(lambda: scheduling.sync_repository(instance.repository_id))


def repository_settings_deleted(sender, instance, **kwargs):
    repository_settings_saved(sender, instance)


def plan_settings_saved(sender, instance, **kwargs):
    from maintenance.services import scheduling

    transaction.on_commit(lambda: scheduling.sync_plan(instance.plan_id))


def plan_settings_deleted(sender, instance, **kwargs):
    plan_settings_saved(sender, instance)


def plan_saved(sender, instance, **kwargs):
    """A plan disabled or enabled: its verify and drill schedules follow."""
    from maintenance.services import scheduling

    transaction.on_commit(lambda: scheduling.sync_plan(instance.pk))
