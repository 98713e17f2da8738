"""Per-process plumbing: current settings (re-read when config.ini changes) and the request log."""

import logging
import os
import sys

from wechat.config import config_path, load_settings
from wechat.store import StoreError, open_store

_cache = {}  # one entry: (config path, its change times) -> Settings
_stores = {}  # (redis_url, data_dir, retention) -> store; Redis keeps its connection pool per process


def current_settings():
    """Settings for this request; re-read only when config.ini changes (or appears, or goes).

    FastCGI processes live for days: an admin who edits config.ini expects the next message to
    see it, without a restart. The environment is fixed for a process's life, so it is read with
    the file, not on every request.
    """
    path = config_path()
    try:
        status = os.stat(path)
        changed = (status.st_mtime_ns, status.st_ctime_ns)  # ctime: a chmod that locks us out is a change too
    except OSError:
        changed = None
    key = (path, changed)
    settings = _cache.get(key)
    if settings is None:
        settings = load_settings()
        _cache.clear()
        _cache[key] = settings
        configure_logging(settings)
    return settings


def forget_settings():
    """Read settings afresh on the next request (after changing os.environ in-process, as tests do)."""
    _cache.clear()


def current_store(settings):
    """The configured store, or None (logged) when it cannot be opened: requests are answered anyway."""
    key = (settings.redis_url, settings.data_dir, settings.log_retention_days)
    if key not in _stores:
        try:
            _stores[key] = open_store(settings)
        except StoreError as e:
            logging.getLogger("wechat").error("store unavailable: %s", e)
            return None
    return _stores[key]


def configure_logging(settings):
    """Send the 'wechat' logger to stderr (Apache's error log under CGI) or the configured file.

    Never stdout: under CGI, stdout is the HTTP response body.
    """
    logger = logging.getLogger("wechat")
    target = settings.log_file or "<stderr>"
    if getattr(logger, "_wechat_target", None) == target:
        return logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    if settings.log_file:
        handler = logging.FileHandler(settings.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s wechat %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger._wechat_target = target
    return logger


log = logging.getLogger("wechat")
