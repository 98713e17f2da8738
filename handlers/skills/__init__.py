"""The skills that answer followers; importing this package registers them all with `on`."""

from handlers.dispatch import on
from handlers.skills import basic  # noqa: F401  (registers by import)

__all__ = ["on"]
