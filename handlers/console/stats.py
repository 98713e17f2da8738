"""The dashboard's numbers from the message log: counts per hour and per day by type, outcomes, latency, errors.

One pass over the store's log_iter for the last 30 days; nothing is kept between requests.
"""

import bisect
import collections
import time

from wechat.record import Record

HOURS, DAYS = 48, 30
OUTCOMES = ("reply", "success", "error", "unfinished")
TOP_TYPES = 6  # the busiest types get their own colour; the rest are "other"
UNFINISHED_AFTER = 60  # a message with no outcome after this long was never answered (its process died)


def outcome_kind(outcome):
    """reply:text -> reply, success, error->success -> error, none yet -> unfinished."""
    if not outcome:
        return "unfinished"
    if outcome.startswith("error"):
        return "error"
    if outcome.startswith("reply"):
        return "reply"
    if outcome.startswith("retry"):
        return "retry"
    return "success" if outcome.startswith("success") else outcome


def percentile(values, fraction):
    """The value below which `fraction` of sorted `values` lie (nearest rank); None for no values."""
    if not values:
        return None
    index = min(len(values) - 1, max(0, int(round(fraction * len(values) + 0.5)) - 1))
    return values[index]


def _local_floor(now, unit):
    t = time.localtime(now)
    if unit == "hour":
        return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, 0, 0, 0, 0, -1))
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


class Buckets(Record):
    """Counts by type in consecutive periods: starts[i] is period i's start, counts[i] a Counter of types."""

    fields = ("starts", "counts")

    def index(self, at):
        """The period `at` falls in, or None when outside them all."""
        i = bisect.bisect_right(self.starts, at) - 1
        return i if i >= 0 else None


def hour_buckets(now):
    current = _local_floor(now, "hour")
    return Buckets([current - 3600 * (HOURS - 1 - i) for i in range(HOURS)], [collections.Counter() for _ in range(HOURS)])


def day_buckets(now):
    starts, day = [], _local_floor(now, "day")
    for _ in range(DAYS):
        starts.append(day)
        day = _local_floor(day - 43200, "day")  # noon of the day before, floored: right across DST changes
    starts.reverse()
    return Buckets(starts, [collections.Counter() for _ in range(DAYS)])


class Summary(Record):
    # tokens: [(day start, prompt tokens, completion tokens)] for the days a language model answered
    fields = ("hourly", "daily", "types", "outcomes_48h", "outcomes_30d", "latency_48h", "latency_30d",
              "errors", "total_48h", "total_30d", "followers_30d", "now", "tokens")
    defaults = {"tokens": ()}


def latency_figures(values):
    values = sorted(values)
    return {"median": percentile(values, 0.5), "p99": percentile(values, 0.99), "count": len(values)}


def summarise(records, now=None, errors_kept=10):
    """A Summary of log records (oldest first, as log_iter gives them) for the dashboard."""
    now = time.time() if now is None else now
    hourly, daily = hour_buckets(now), day_buckets(now)
    outcomes_48h, outcomes_30d = collections.Counter(), collections.Counter()
    latencies_48h, latencies_30d, followers = [], [], set()
    errors = collections.deque(maxlen=errors_kept)
    type_totals = collections.Counter()
    since_48h = hourly.starts[0]
    total_48h = total_30d = 0
    tokens = collections.defaultdict(lambda: [0, 0])  # day index -> [prompt, completion]
    for record in records:
        at = float(record["received_at"] or 0)
        day = daily.index(at)
        if day is None:
            continue
        kind = outcome_kind(record.get("outcome"))
        if kind == "unfinished" and now - at < UNFINISHED_AFTER:
            continue  # still being answered
        msg_type = record.get("msg_type") or "unknown"
        daily.counts[day][msg_type] += 1
        type_totals[msg_type] += 1
        outcomes_30d[kind] += 1
        total_30d += 1
        followers.add(record.get("source"))
        latency = record.get("latency_ms")
        if latency is not None:
            latencies_30d.append(float(latency))
        if record.get("prompt_tokens") or record.get("completion_tokens"):
            tokens[day][0] += int(record.get("prompt_tokens") or 0)
            tokens[day][1] += int(record.get("completion_tokens") or 0)
        if at >= since_48h:
            hour = hourly.index(at)
            if hour is not None:
                hourly.counts[hour][msg_type] += 1
            outcomes_48h[kind] += 1
            total_48h += 1
            if latency is not None:
                latencies_48h.append(float(latency))
        if kind in ("error", "unfinished"):
            errors.append(record)
    types = [name for name, _ in type_totals.most_common(TOP_TYPES)]
    if len(type_totals) > TOP_TYPES:
        for buckets in (hourly, daily):
            for counts in buckets.counts:
                other = sum(n for name, n in counts.items() if name not in types)
                for name in list(counts):
                    if name not in types:
                        del counts[name]
                if other:
                    counts["other"] = other
        types.append("other")
    return Summary(hourly, daily, types, outcomes_48h, outcomes_30d, latency_figures(latencies_48h),
                   latency_figures(latencies_30d), list(reversed(errors)), total_48h, total_30d,
                   len(followers), now, [(daily.starts[d], p, c) for d, (p, c) in sorted(tokens.items())])


# What summarise() and the dashboard's error table read: not raw or reply, most of a record's bytes.
SUMMARY_FIELDS = ("received_at", "msg_type", "outcome", "source", "summary", "latency_ms", "prompt_tokens",
                  "completion_tokens")


def dashboard_summary(store, now=None):
    now = time.time() if now is None else now
    return summarise(store.log_iter(day_buckets(now).starts[0], None, SUMMARY_FIELDS), now)
