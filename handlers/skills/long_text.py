"""Texts longer than WeChat takes (2048 bytes): split on sentence boundaries; the part not sent now is owed.

The first part is the reply. The rest goes out through the customer-service API when appid/appsecret
are set; otherwise (or when that fails) it is owed to the follower: kept in the store under
`owed:<openid>` for an hour, and handed out first on their next message (continuation.py).
Why the store and not the follower's session: it works whenever the store does (with or without
sessions), it expires by itself, and every process sees it (a CGI request is a process of its own).
"""

import re
import time

from wechat.log import log
from wechat.replies import TextReply
from wechat.store import StoreError


MAX_TEXT_BYTES = 2048  # WeChat drops a passive text reply whose Content is longer (UTF-8 bytes)
PART_BYTES = MAX_TEXT_BYTES - 200  # room for the hints put around a part (see continuation.py)
OWED_PREFIX = "owed:"  # the parts of a long text not sent yet
OWED_REPLY_PREFIX = "owed-reply:"  # a late answer that is not a text (late.py)
OWED_TTL = 3600
SEND_REST_AFTER_SECONDS = 1.0  # lets the passive reply (the first part) reach the follower first
MORE_WORDS = ("继续", "more")  # ask for the next part
NEW_TOPIC_WORDS = ("新话题", "reset")  # drop what is owed (and, with the chat skill, the history)
MORE_HINT = "\n\n（未完，还有 %d 段：回复“继续”看下一段）"

# A sentence ends after 。！？!? … or a line break, or after '.' followed by a space (not 3.14); closing
# quotes and brackets and the spaces after it stay with it. Compiled on first use (re caches them): every
# CGI request imports this module, few split a text.
SENTENCE_END = r"(?:[。！？!?…\n]+|\.(?=\s))[”’」』）)\]】》\"']*\s*"
SOFT_BREAK = r"[，、；：,;:]\s*|\s+"


def split_text(text, limit=PART_BYTES):
    """Parts of at most `limit` UTF-8 bytes that join back into `text`.

    Each part ends after the last sentence end that keeps it at least half full; failing that, after
    the last comma or space; failing that, after the last whole character that fits.
    """
    parts = []
    while len(text.encode("utf-8")) > limit:
        # The longest prefix that fits; "ignore" drops only a character cut in half at the end.
        head = text.encode("utf-8")[:limit].decode("utf-8", "ignore")
        cut = last_break(head, SENTENCE_END) or last_break(head, SOFT_BREAK) or len(head)
        parts.append(text[:cut])
        text = text[cut:]
    if text:
        parts.append(text)
    return parts


def last_break(head, pattern):
    """The end of the last match of `pattern` in the second half of `head`, or 0."""
    ends = [m.end() for m in re.compile(pattern).finditer(head, len(head) // 2)]
    return ends[-1] if ends else 0


def text_of(answer):
    """The text of a str or TextReply answer; None for any other reply."""
    if isinstance(answer, TextReply):
        return answer.content
    return answer if isinstance(answer, str) else None


def too_long(text):
    return text is not None and len(text.encode("utf-8")) > MAX_TEXT_BYTES


def with_more_hint(part, remaining):
    return part.rstrip() + (MORE_HINT % remaining if remaining else "")


def fit_reply(answer, message, ctx):
    """The answer as WeChat can take it: a long text's first part, the rest sent on or owed; others unchanged."""
    text = text_of(answer)
    if not too_long(text):
        return answer
    parts = split_text(text)
    first, rest = parts[0], parts[1:]
    if ctx.can_answer_late:
        from handlers.skills.budget import run_detached

        def send_rest():
            time.sleep(SEND_REST_AFTER_SECONDS)
            send_in_parts(ctx, message.source, rest)

        run_detached(send_rest, use_fork=ctx.run_mode == "cgi")
        reply_text = first.rstrip()
    elif keep_owed(ctx.store, message.source, rest):
        reply_text = with_more_hint(first, len(rest))
    else:
        reply_text = first.rstrip()
    return TextReply(reply_text) if isinstance(answer, TextReply) else reply_text


def send_in_parts(ctx, follower, parts):
    """Send texts in order through the customer-service API; what could not be sent is owed instead."""
    from wechat.client import WeChatAPIError, WeChatClient

    for sent, part in enumerate(parts):
        try:
            WeChatClient(ctx.settings, ctx.store).send_text(follower, part.strip())
        except WeChatAPIError as e:
            kept = keep_owed(ctx.store, follower, parts[sent:])
            log.error("part %d of %d of a long answer not sent through the customer-service API (%s)%s",
                      sent + 1, len(parts), e, "; kept for the follower's next message" if kept else "")
            return False
    log.info("%d more part(s) of a long answer sent through the customer-service API", len(parts))
    return True


def keep_owed(store, follower, parts):
    """Keep parts for the follower's next message; False (logged) when there is no store to keep them in."""
    import json


    if not parts:
        return True
    try:
        if store is None:
            raise StoreError("no store")
        store.set(OWED_PREFIX + follower, json.dumps({"parts": parts}, ensure_ascii=False), OWED_TTL, follower=follower)
        return True
    except StoreError as e:
        log.error("the rest of a long answer (%d part(s)) dropped: %s", len(parts), e)
        return False


def take_owed(store, follower):
    """(the next owed part, how many remain after it), or None when nothing is owed.

    Not atomic: two messages from one follower in the same few milliseconds could both get the same
    part, which is harmless; a lost part is not possible.
    """

    key = OWED_PREFIX + follower
    try:
        value = store.get(key)
        if value is None:
            return None
        import json  # only once something is owed: a CGI request that owes nothing never loads it

        parts = json.loads(value).get("parts") or []
        if len(parts) > 1:
            store.set(key, json.dumps({"parts": parts[1:]}, ensure_ascii=False), OWED_TTL, follower=follower)
        else:
            store.delete(key)
    except (StoreError, ValueError, AttributeError) as e:
        log.error("owed parts for a follower unreadable: %s", e)
        return None
    return (parts[0], len(parts) - 1) if parts else None


def drop_owed(store, follower):

    try:
        store.delete(OWED_PREFIX + follower)
    except StoreError as e:
        log.error("owed parts for a follower not dropped: %s", e)
