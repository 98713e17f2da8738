"""取消 / cancel: ends whatever question the account is waiting to have answered (see on.reply_to)."""

from handlers.skills.registry import CANCEL, keyword_of, on

CANCEL_WORDS = {"取消", "cancel"}


@on.custom(lambda m: m.type == "text" and keyword_of(m) in CANCEL_WORDS, precedence=CANCEL,
           help="取消 / cancel — 不再回答我刚才的问题", kinds=["text"], needs_state=True)
def cancel_wait(message, ctx):
    if ctx.session.waiting_for is None:
        return None  # nothing to cancel: the words may mean something to another skill
    ctx.session.stop_waiting()
    return "好的，已取消。"
