"""The skills that answer followers, their machinery (registry, budget) and their back-ends.

Importing the package registers nothing: `load_skills()` imports the built-in skill modules
(each import registers its skills with `on`) and the admin's own, once per process. So a tool
that needs only a back-end (manage.py's jokes fetch) does not build the whole registry.
"""

import importlib

from handlers.skills.registry import on

# Import order is registration order within one precedence: 取消 and what a follower is owed first,
# the admin's rules next, the chat with a language model (skipped unless configured), the reversed echo
# (the catch-all for text) last.
BUILT_IN = ("conversation", "continuation", "admin_rules", "books", "jokes", "media", "chat", "basic")

__all__ = ["on", "load_skills"]


_loaded = set()  # the skill_modules settings already imported in this process


def load_skills(extra_modules=""):
    """The registry with the built-in skills and the admin's modules (setting skill_modules) loaded.

    Imports happen once per process and setting; after that this is one set lookup.
    """
    if extra_modules in _loaded:
        return on
    for name in BUILT_IN:
        importlib.import_module("handlers.skills." + name)
    for name in filter(None, (n.strip() for n in extra_modules.split(","))):
        importlib.import_module(name)
    _loaded.add(extra_modules)
    return on
