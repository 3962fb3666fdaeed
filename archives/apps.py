from django.apps import AppConfig


class ArchivesConfig(AppConfig):
    name = "archives"
    verbose_name = "Archives"

    def ready(self):
        from django.db.models.signals import pre_delete

        from archives import signals
        from repositories.services import steps

        pre_delete.connect(signals.drop_index_entries, sender="archives.ArchiveIndex")
        # After the container stop (order 100): the list is refreshed once containers run again.
        steps.register("archives.steps.ArchiveListSteps")
        # The worker's minute recovery task finishes restores whose worker died.
        steps.register_periodic("archives.tasks.recover_restores")
