def drop_index_entries(sender, instance, **kwargs):
    """An index's rows go with it (pre_delete of ArchiveIndex, also in a cascade)."""
    instance.drop_entries()
