"""One module per kind of object in a configuration file, in the file's order.

Each holds that kind's one map of model fields to keys of the file (``KEYS``), the shape
of its entries (``SHAPE``), and how an entry is prepared (matched by name and checked with
the model's rules), written, and exported: a new field is added in that one module.
"""

from configuration import schema
from configuration.kinds import notifications, packages, plans, repositories, scripts, ssh_connections

KINDS = (ssh_connections, scripts, repositories, plans, packages, notifications)
TOP_LEVEL_KEYS = tuple(kind.SECTION for kind in KINDS)
DOCUMENT = schema.Mapping({kind.SECTION: schema.ListOf(kind.SHAPE) for kind in KINDS})
