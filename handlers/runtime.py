"""Per-process plumbing: current settings (re-read when config.ini changes) and the request log."""

import logging
import os
import sys
import threading
import time

from wechat.config import config_path, load_settings
from wechat.store import StoreError, open_store

_cache = {}  # one entry: (config path, its change times) -> Settings
_stores = {}  # (redis_url, data_dir, retention) -> store; Redis keeps its connection pool per process
_journals = {}  # (data_dir, budget, nonce window) -> Journal; it keeps its journal file open
_journals_lock = threading.Lock()  # flup's first requests arrive on several threads at once
DEFAULT_REQUEST_AGE = 600  # seconds; the setting max_request_age_seconds, where it exists, wins


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


def current_journal(settings):
    """The message journal for these settings, or None when `journal = off`."""
    if not settings.journal:
        return None
    key = (settings.data_dir, settings.reply_budget_seconds, request_age_window(settings))
    journal = _journals.get(key)
    if journal is None:
        from wechat.journal import Journal

        with _journals_lock:  # one per process: it holds the journal file open
            journal = _journals.get(key) or Journal(settings.data_dir, settings.reply_budget_seconds, key[2])
            _journals[key] = journal
    return journal


def request_age_window(settings):
    """How old (or how far ahead) a request's timestamp may be; 0: no replay checks."""
    return float(getattr(settings, "max_request_age_seconds", DEFAULT_REQUEST_AGE) or 0)


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
    logger._wechat_handler = handler
    return logger


_stamp = [None, ""]  # (second, its formatted local time): strftime once a second, not once a line


def log_request_line(text):
    """One INFO line shaped like every other, without logging's per-record machinery (~40 us a request).

    Falls back to the logger whenever anything else listens to it (a test's capture, another handler).
    """
    logger = log
    handlers = logger.handlers
    if (len(handlers) != 1 or handlers[0] is not getattr(logger, "_wechat_handler", None) or logger.disabled
            or logger.level > logging.INFO or handlers[0].level > logging.INFO):
        logger.info("%s", text)
        return
    handler = handlers[0]
    now = time.time()
    second = int(now)
    if _stamp[0] != second:
        _stamp[1] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        _stamp[0] = second
    line = "%s,%03d wechat INFO %s\n" % (_stamp[1], (now - second) * 1000, text)
    handler.acquire()
    try:
        handler.stream.write(line)
        handler.stream.flush()
    except Exception:
        pass  # a log that cannot be written must not cost the follower the reply
    finally:
        handler.release()


log = logging.getLogger("wechat")
