"""A test skill module (loaded through WECHAT_SKILL_MODULES): notes kept in the follower's session, with a
pause between reading and writing so two messages at once really race."""

import time

from handlers.skills.registry import on


@on.regex(r"^记下 (?P<note>\S+)(?: (?P<pause>[\d.]+))?$")
def take_note(message, ctx):
    before = len(ctx.session.get("notes", []))  # read first, as a skill does
    time.sleep(float(ctx.match.group("pause") or 0))  # ... while the other message reads the same version
    ctx.session.append("notes", ctx.match.group("note"))
    ctx.session["last_" + ctx.match.group("note")] = before  # and a key of its own
    return "记下了"


@on.text("我记了什么")
def list_notes(message, ctx):
    return "、".join(sorted(ctx.session.get("notes", []))) or "什么也没有"
