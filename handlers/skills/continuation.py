"""What the follower is still owed (the rest of a long answer) comes first on their next message: 继续 / more, or any."""

from handlers.skills.long_text import MORE_WORDS, NEW_TOPIC_WORDS, drop_owed, take_owed, with_more_hint
from handlers.skills.registry import OWED, keyword_of, on

FROM_EARLIER = "（接上一条回答）\n"
ASK_AGAIN = "\n\n（你刚发的这条消息我还没处理，看完后请再发一次。）"


def from_follower(message):
    # Events WeChat sends by itself (LOCATION on opening the chat, VIEW, unsubscribe) must not use up a part.
    return not message.is_event or message.event == "CLICK"


def more_help(settings):
    return ["继续 / more — 长回答的下一段"] if settings.has_chat_model else []


@on.custom(from_follower, precedence=OWED, help=more_help, needs_state=True)
def rest_of_answer(message, ctx):
    store = ctx.store
    if store is None:
        return None
    said = keyword_of(message) if message.type == "text" else ""
    if said in NEW_TOPIC_WORDS:
        drop_owed(store, message.source)
        return None  # the new-topic skill (or whatever answers it) has its turn
    taken = take_owed(store, message.source)  # one store read when nothing is owed
    if taken is None:
        # Imported here: this skill runs only for followers with something stored (needs_state), so a
        # CGI request from anyone else never loads late.py
        from handlers.skills.late import take_owed_reply

        return take_owed_reply(store, message.source)  # a late news/image answer (one more read)
    part, remaining = taken
    if said in MORE_WORDS:
        return with_more_hint(part, remaining)
    return FROM_EARLIER + with_more_hint(part, remaining) + ASK_AGAIN
