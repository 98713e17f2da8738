"""The skills that answer followers; importing this package registers them all with `on`."""

from handlers.dispatch import on
from handlers.skills import basic  # noqa: F401  (registers by import)

__all__ = ["on", "load_skill_modules"]


def load_skill_modules(names):
    """Import the admin's own skill modules (setting skill_modules); each import registers its skills.

    Python caches imports, so this costs a dict lookup per request after the first.
    """
    import importlib

    for name in filter(None, (n.strip() for n in names.split(","))):
        importlib.import_module(name)
