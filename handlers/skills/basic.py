"""The first skills: a welcome for new followers, help, and the reference course's reversed echo."""

from handlers.skills.registry import on


@on.event("subscribe", help="")
def welcome(message, ctx):
    return ctx.settings.welcome_text or None


@on.text("帮助", "help", "?", "菜单", help="帮助 / help — 这条说明")
def help_text(message, ctx):
    lines = ctx.registry.help_lines(ctx.settings)
    return "我能做这些：\n" + "\n".join("· " + line for line in lines)


def reverse_help(settings):
    return [] if settings.has_chat_model else ["其他文字 — 倒过来念给你听"]  # the model answers them instead


@on.text(help=reverse_help)
def reverse(message, ctx):
    # "你好abc" -> "cba好你": reverse by code point, which keeps Chinese characters whole.
    return message.content[::-1] or None
