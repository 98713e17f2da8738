"""The replay window: a signed request's timestamp must be a number close to this server's clock.

Plain mode signs only token + timestamp + nonce, so a query string seen once (in a log, a proxy)
would otherwise be a key that works for ever. Bounding its age to a few minutes closes that; the
(timestamp, nonce) memory inside the window is the message journal's job.
"""

import time

MAX_DIGITS = 12  # WeChat sends Unix seconds: 10 digits until the year 2286


def timestamp_problem(timestamp, max_age, now=None):
    """None when `timestamp` is fresh (or max_age is 0: the check is off); else one sentence for the log."""
    if not max_age:
        return None
    text = timestamp if isinstance(timestamp, str) else ""
    # int() alone would take " 12", "1_000", "-5" and Arabic-Indic digits; WeChat sends none of those.
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        return "timestamp %s is not a Unix time in seconds" % (repr(timestamp)[:40] if timestamp is not None else "missing")
    skew = int(text) - int(time.time() if now is None else now)
    if abs(skew) <= max_age:
        return None
    return ("timestamp %s is %d s %s this server's clock (max_request_age_seconds = %d); if WeChat's own "
            "requests are refused too, this server's clock is wrong: check `timedatectl`"
            % (text, abs(skew), "ahead of" if skew > 0 else "behind", max_age))
