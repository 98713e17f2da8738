"""`manage.py export`: the message log (or, with --sessions, the followers' live sessions) as CSV or JSON lines."""

import csv
import json
import time
from datetime import datetime

COLUMNS = ("time", "msg_type", "source", "target", "summary", "reply", "outcome", "key", "latency_ms",
           "prompt_tokens", "completion_tokens")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(cell):
    """A CSV cell a spreadsheet shows as text: one that starts like a formula gets a leading apostrophe
    (OWASP's advice). A follower's `=HYPERLINK(...)` must not run on the admin's machine."""
    text = str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def parse_when(text):
    """None, a Unix time, or a local date/time (YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]) as a Unix time."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    for form in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return time.mktime(datetime.strptime(text, form).timetuple())
        except ValueError:
            continue
    raise ValueError("%r is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM) or a Unix time" % text)


def cell(value):
    return "" if value is None else str(value)


def write_log(records, fmt, out):
    """Write records to out as csv or jsonl; returns how many."""
    count = 0
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(COLUMNS)
    for record in records:
        stamp = datetime.fromtimestamp(record["received_at"]).isoformat(timespec="seconds")
        if writer:
            writer.writerow([stamp] + [inert(cell(record.get(c))) for c in COLUMNS[1:]])  # JSON lines stay exact
        else:
            out.write(json.dumps(dict(record, time=stamp), ensure_ascii=False) + "\n")
        count += 1
    return count


SESSION_COLUMNS = ("follower", "expires", "waiting_for", "values")


def write_sessions(rows, fmt, out):
    """Write the store's live sessions (follower, document, expires_at) as csv or jsonl; returns how many."""
    count = 0
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(SESSION_COLUMNS)
    for follower, document, expires_at in rows:
        try:
            parsed = json.loads(document)
        except ValueError:
            parsed = {}
        expires = datetime.fromtimestamp(expires_at).isoformat(timespec="seconds")
        values, waiting = parsed.get("values", {}), parsed.get("waiting_for") or ""
        if writer:
            writer.writerow([follower, expires, waiting, json.dumps(values, ensure_ascii=False)])
        else:
            out.write(json.dumps({"follower": follower, "expires": expires, "waiting_for": waiting, "values": values},
                                 ensure_ascii=False) + "\n")
        count += 1
    return count
