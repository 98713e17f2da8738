"""The 'wechat' logger, without loading `logging` until a line needs it (~2 ms of a CGI request).

`log` stands for logging.getLogger("wechat"): the first attribute used imports logging and points the logger
where send_to() said (stderr, or the log_file setting). `write_line` writes the request's one INFO line,
shaped like every other, straight to that destination: a CGI request that logs nothing else never loads
logging. Modules log with `from wechat.log import log`.
"""

import sys
import threading
import time

FORMAT = "%(asctime)s wechat %(levelname)s %(message)s"
_where = {"target": None, "stream": None}  # target: "" for stderr, else a file; stream: ours, while logging is not loaded
_lock = threading.Lock()
_stamp = [None, ""]  # (second, its formatted local time): strftime once a second, not once a line


class _Logger:
    """logging.getLogger("wechat"), fetched (and configured) when first used."""

    def __getattr__(self, name):
        return getattr(logger(), name)


log = _Logger()


def send_to(target):
    """Lines go to `target` from now on: "" for stderr, else a file path."""
    with _lock:
        if _where["target"] != target:
            stream = _where["stream"]
            if stream is not None and stream is not sys.stderr:
                stream.close()
            _where["target"], _where["stream"] = target, None
    if "logging" in sys.modules:  # loaded already (by a skill, a test, the FastCGI server): configure it now
        logger()


def logger():
    """logging.getLogger("wechat"), pointed where send_to() said (once per destination)."""
    import logging

    real = logging.getLogger("wechat")
    target = _where["target"]
    if target is None or getattr(real, "_wechat_target", None) == target:
        return real
    with _lock:
        if getattr(real, "_wechat_handler", None) is not None:
            real.removeHandler(real._wechat_handler)  # ours only: a handler someone else added stays
            real._wechat_handler.close()
        stream = _where["stream"]
        if stream is not None and stream is not sys.stderr:
            stream.close()  # the handler opens the file for itself
        _where["stream"] = None
        try:
            handler = logging.FileHandler(target, encoding="utf-8") if target else logging.StreamHandler(sys.stderr)
        except OSError as e:  # the follower is answered anyway; the lines go to stderr (Apache's error log)
            handler = logging.StreamHandler(sys.stderr)
            sys.stderr.write("wechat: cannot write the log file %s (%s): logging to stderr\n" % (target, e))
        handler.setFormatter(logging.Formatter(FORMAT))
        real.addHandler(handler)
        real.setLevel(logging.INFO)
        real.propagate = False
        real._wechat_target = target
        real._wechat_handler = handler
    return real


def write_line(text):
    """One INFO line, without logging's per-record machinery (~40 us) and, until something else is logged,
    without logging at all. Goes through the logger whenever anything else listens to it (a test's
    capture, another handler)."""
    logging = sys.modules.get("logging")
    if logging is None:
        if _where["target"] is None:
            return  # nowhere said yet: as the logger would, with no handler for INFO
        with _lock:
            if _where["stream"] is None:
                _where["stream"] = _open(_where["target"])
            _write(_where["stream"], text)
        return
    real = logger()
    handlers = real.handlers
    if (len(handlers) != 1 or handlers[0] is not getattr(real, "_wechat_handler", None) or real.disabled
            or real.level > logging.INFO or handlers[0].level > logging.INFO):
        real.info("%s", text)
        return
    handler = handlers[0]
    handler.acquire()
    try:
        _write(handler.stream, text)
    finally:
        handler.release()


def _open(target):
    if not target:
        return sys.stderr
    try:
        return open(target, "a", encoding="utf-8")
    except OSError as e:  # as logger() does: the lines go to stderr instead
        sys.stderr.write("wechat: cannot write the log file %s (%s): logging to stderr\n" % (target, e))
        return sys.stderr


def _write(stream, text):
    now = time.time()
    second = int(now)
    if _stamp[0] != second:
        _stamp[1] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        _stamp[0] = second
    try:
        stream.write("%s,%03d wechat INFO %s\n" % (_stamp[1], (now - second) * 1000, text))
        stream.flush()
    except Exception:
        pass  # a log that cannot be written must not cost the follower the reply
