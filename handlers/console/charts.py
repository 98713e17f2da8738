"""Chart geometry for the dashboard: stacked bars computed here, drawn as SVG by templates/console/chart.html.

No script and no library: the browser gets finished SVG, so a phone shows it as it loads.
"""

import time

from wechat.record import Record

WIDTH, HEIGHT = 960, 250
LEFT, RIGHT, TOP, BOTTOM = 44, 44, 12, 28  # y labels on both sides (a phone scrolls to the right), x below


class Bar(Record):
    fields = ("x", "y", "width", "height", "series", "title")


class Tick(Record):
    fields = ("position", "label")


class Chart(Record):
    """What chart.html draws: bars (series = colour index), y grid lines, x labels, a caption."""

    fields = ("caption", "bars", "slots", "y_ticks", "x_ticks", "total", "width", "height", "left", "right_edge",
              "baseline")


def nice_step(top, steps=4):
    """The smallest of 1, 2, 5 x 10^k that reaches `top` in `steps` steps."""
    step = 1
    while step * steps < top:
        for factor in (2, 2.5, 2):  # 1 -> 2 -> 5 -> 10 -> 20 -> 50 ...
            step *= factor
            if step * steps >= top:
                break
    return int(step)


def stacked_bars(caption, buckets, series, period_seconds, label):
    """A Chart of buckets (stats.Buckets) with one colour per name in `series`.

    label(start, index) -> text for an x tick, or "" for none. Each bar has a <title> with its counts.
    """
    totals = [sum(c.values()) for c in buckets.counts]
    highest = max(totals) if totals else 0
    step = nice_step(max(highest, 1))
    top = max(step, -(-highest // step) * step)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    slot = plot_width / len(totals)
    bar_width = max(1.0, slot * 0.78)
    bars, slots = [], []
    for i, counts in enumerate(buckets.counts):
        x = LEFT + i * slot + (slot - bar_width) / 2
        start = buckets.starts[i]
        period = "%s – %s" % (time.strftime("%m-%d %H:%M", time.localtime(start)),
                              time.strftime("%H:%M" if period_seconds < 86400 else "%m-%d %H:%M",
                                            time.localtime(start + period_seconds)))
        detail = ", ".join("%s %d" % (name, counts[name]) for name in series if counts.get(name))
        title = "%s: %d message%s%s" % (period, totals[i], "" if totals[i] == 1 else "s",
                                        " (%s)" % detail if detail else "")
        slots.append(Bar(round(LEFT + i * slot, 2), TOP, round(slot, 2), plot_height, -1, title))
        y = baseline
        for index, name in enumerate(series):
            count = counts.get(name, 0)
            if not count:
                continue
            height = plot_height * count / top
            y -= height
            bars.append(Bar(round(x, 2), round(y, 2), round(bar_width, 2), round(height, 2), index, title))
    y_ticks = [Tick(round(baseline - plot_height * value / top, 2), str(value)) for value in range(0, top + 1, step)]
    x_ticks = []
    for i, start in enumerate(buckets.starts):
        text = label(start, i)
        if text:
            x_ticks.append(Tick(round(LEFT + (i + 0.5) * slot, 2), text))
    return Chart(caption, bars, slots, y_ticks, x_ticks, sum(totals), WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, baseline)


def hourly_chart(summary):
    def label(start, index):
        hour = time.localtime(start).tm_hour
        if hour == 0:
            return time.strftime("%m-%d", time.localtime(start))
        return "%02d:00" % hour if hour % 6 == 0 else ""

    return stacked_bars("Messages per hour, last 48 hours", summary.hourly, summary.types, 3600, label)


def daily_chart(summary):
    last = len(summary.daily.starts) - 1

    def label(start, index):
        return time.strftime("%m-%d", time.localtime(start)) if (last - index) % 5 == 0 else ""

    return stacked_bars("Messages per day, last 30 days", summary.daily, summary.types, 86400, label)


class Segment(Record):
    fields = ("x", "width", "name", "count", "percent")


def share_bar(counts, names, width=100):
    """One horizontal bar split by share: the outcomes strip."""
    total = sum(counts.get(n, 0) for n in names)
    segments, x = [], 0.0
    for name in names:
        count = counts.get(name, 0)
        if not count:
            continue
        share = width * count / total
        segments.append(Segment(round(x, 2), round(share, 2), name, count, round(100.0 * count / total, 1)))
        x += share
    return segments
