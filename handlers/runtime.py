"""Per-process plumbing: current settings (re-read when config.ini changes) and the request log."""

import os
import threading

from wechat import log as logline
from wechat.config import config_path, load_settings
from wechat.log import log
from wechat.store import StoreError, open_store

_cache = {}  # one entry: (config path, its change times) -> Settings
_stores = {}  # (redis_url, data_dir, retention) -> store; Redis keeps its connection pool per process
_journals = {}  # (data_dir, budget, nonce window, redis or not) -> Journal; it keeps its journal file open
_journals_lock = threading.Lock()  # a TCP FastCGI backend's first requests arrive on several threads at once
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
            log.error("store unavailable: %s", e)
            return None
    return _stores[key]


def current_journal(settings, run_mode="wsgi"):
    """The message journal for these settings, or None when `journal = off`; run_mode: "cgi" for a
    one-request process (it shares a journal file with the others instead of starting its own)."""
    if not settings.journal:
        return None
    key = (settings.data_dir, settings.reply_budget_seconds, request_age_window(settings), bool(settings.redis_url))
    journal = _journals.get(key)
    if journal is None:
        from wechat.journal import Journal

        with _journals_lock:  # one per process: it holds its journal file open
            journal = _journals.get(key)
            if journal is None:
                for replaced in _journals.values():  # config.ini changed: its file must not stay held
                    replaced.file.retire(for_good=True)
                _journals.clear()
                # With Redis the journal is only a spool for outages: one shared file, never held.
                own_file = run_mode != "cgi" and not settings.redis_url
                journal = _journals[key] = Journal(settings.data_dir, settings.reply_budget_seconds, key[2],
                                                   own_file=own_file)
    return journal


def request_age_window(settings):
    """How old (or how far ahead) a request's timestamp may be; 0: no replay checks."""
    return float(getattr(settings, "max_request_age_seconds", DEFAULT_REQUEST_AGE) or 0)


def configure_logging(settings):
    """Send the 'wechat' logger to stderr (Apache's error log under CGI) or the configured file.

    Never stdout: under CGI, stdout is the HTTP response body. `logging` itself is loaded only when
    something beyond the request line is logged (wechat/log.py).
    """
    logline.send_to(settings.log_file or "")


def log_request_line(text):
    """The request's one INFO line, shaped like every other, without logging's machinery (wechat/log.py)."""
    logline.write_line(text)
