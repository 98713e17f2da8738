"""A test skill module (loaded through WECHAT_SKILL_MODULES): counts its runs in a file and can be slow."""

import os
import time

from handlers.skills.registry import on


@on.regex(r"^count(?: (?P<seconds>[\d.]+))?$")
def counted(message, ctx):
    # One line per run, appended atomically: the test counts lines to prove the skill ran once.
    with open(os.environ["COUNTING_SKILL_FILE"], "a") as f:
        f.write(message.message_id + "\n")
    time.sleep(float(ctx.match.group("seconds") or 0))
    return "counted " + message.message_id


@on.regex(r"^slow (?P<seconds>[\d.]+)$", calls_out=True)
def slow(message, ctx):
    """Stands in for a skill that calls a slow service (a book lookup, say)."""
    time.sleep(float(ctx.match.group("seconds")))
    return "slow answer after %s s" % ctx.match.group("seconds")
