"""The skills that answer followers; importing this package registers them all with `on`.

Import order is registration order within one precedence: the admin's rules first, the reversed
echo (the catch-all for text) last.
"""

from handlers.dispatch import on
from handlers.skills import admin_rules, books, jokes, media, basic  # noqa: F401,E402  (register by import)

__all__ = ["on", "load_skill_modules"]


def load_skill_modules(names):
    """Import the admin's own skill modules (setting skill_modules); each import registers its skills.

    Python caches imports, so this costs a dict lookup per request after the first.
    """
    import importlib

    for name in filter(None, (n.strip() for n in names.split(","))):
        importlib.import_module(name)
