from django.dispatch import Signal

# Sent (with job=the RestoreJob) once a restore job's final status is saved: success,
# warning or failure, also when recovery finishes it as interrupted. Apps above archives
# listen (notifications: the `restore` event, docs/notifications.md).
restore_finished = Signal()


def drop_index_entries(sender, instance, **kwargs):
    """An index's rows go with it (pre_delete of ArchiveIndex, also in a cascade)."""
    instance.drop_entries()
