#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "borgui.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as e:
        # A configuration mistake is the operator's to fix: one line, no traceback.
        print(f"borgui: {e}", file=sys.stderr)
        sys.exit(2)
    except OperationalError as e:
        # The database is unreachable or unreadable: say so in one line.
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"borgui: database: {first_line}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
