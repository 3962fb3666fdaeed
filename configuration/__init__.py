"""Configuration as code (docs/configuration.md): ``apply_config`` and ``export_config``.

``load`` reads and parses a file safely, ``schema`` checks its shape and reads its
secrets, ``apply`` validates it with the admin's rules and applies it in one transaction,
``export`` writes the database back as the same YAML.
"""
