"""`doctor`'s security checks: a clock the replay window can trust, and no debug setting left behind."""

import configparser
import os
import time

from wechat.config import ROOT, ConfigError, config_path, load_settings


def newest_file(paths):
    """(mtime, path) of the most recently modified file under the given files and folders."""
    newest = (0.0, "")
    for top in paths:
        candidates = [top] if os.path.isfile(top) else (
            os.path.join(directory, name) for directory, _, names in os.walk(top) for name in names)
        for path in candidates:
            try:
                newest = max(newest, (os.stat(path).st_mtime, path))
            except OSError:
                continue
    return newest


def clock_witnesses(root=ROOT):
    """Files whose dates the clock must be past: the app, web.py and the standard library."""
    import web

    from admin.deploy import APP_PACKAGES

    return ([os.path.join(root, "code.py")] + [os.path.join(root, p) for p in APP_PACKAGES]
            + [os.path.dirname(web.__file__), os.__file__])


def check_clock(root=ROOT, now=None):
    """The clock is behind when files were written 'in the future'; WeChat's requests would then carry
    timestamps outside max_request_age_seconds and be refused as replays."""
    now = time.time() if now is None else now
    try:
        allowed = load_settings().max_request_age_seconds or 600
    except ConfigError:
        allowed = 600
    mtime, path = newest_file(clock_witnesses(root))
    if mtime - now <= allowed:
        return []
    return ["The clock says %s, but %s was written at %s: the clock is at least %d s behind, and WeChat's "
            "requests will be refused as replays (their timestamps are more than max_request_age_seconds = %d "
            "away). Set the clock right and keep it right: `timedatectl set-ntp true` (or install chrony)."
            % (_when(now), path, _when(mtime), mtime - now, allowed)]


def check_debug():
    """`debug` in config.ini or WECHAT_DEBUG: it used to turn on traceback pages; now only --debug does."""
    where = []
    if os.environ.get("WECHAT_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
        where.append("the environment variable WECHAT_DEBUG")
    path = config_path()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8-sig") as f:
            parser.read_file(f)
        if parser.getboolean("server", "debug", fallback=False):
            where.append("debug = true in %s" % path)
    except (OSError, ValueError, configparser.Error):
        pass  # check_config reports an unreadable or broken file
    if not where:
        return []
    return ["Debug is switched on by %s: it no longer shows anything (traceback pages come only from "
            "`python code.py --debug`, for a development machine, never a public one); remove it so that "
            "nobody thinks it is on." % " and ".join(where)]


def _when(stamp):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))
