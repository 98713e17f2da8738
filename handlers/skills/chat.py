"""Chat with a language model: texts nothing else answers go to an OpenAI-compatible API (off unless configured).

On when llm_api_base and llm_model are set; until then these skills are skipped before they are called,
and the reversed echo answers. The follower's recent turns (their session, when there is one) go along as
context; 新话题 / reset forgets them. A model call runs under the reply budget (calls_out), so a slow
model's answer goes out later through the customer-service API where that is available.
"""

from handlers.skills.long_text import NEW_TOPIC_WORDS
from handlers.skills.registry import on

HISTORY_KEY = "chat_history"  # in the session: [{"role": "user" | "assistant", "content": str}, ...]
RATE_PREFIX = "chat-rate:"

NEW_TOPIC = "好的，我们换个新话题。之前聊的内容我已经忘了，请说吧。"
TOO_FAST = "你问得有点快，我得歇一会儿。请 %s后再来问我吧。"
# What the follower reads when the model gives no answer, by ModelError kind.
POLITE = {
    "down": "抱歉，我现在连不上智能助手，请过几分钟再试。",
    "timeout": "抱歉，这个问题我想得太久了，请稍后再问一次，或者换个简单点的问法。",
    "busy": "现在来问问题的人太多了，请过一会儿再试。",
    "refused": "抱歉，这个问题我不方便回答，换个话题吧。",
    "config": "抱歉，智能助手暂时不可用，我们正在处理。",
    "error": "抱歉，智能助手出了点问题，请稍后再试。",
    "bad_answer": "抱歉，这次没能得到回答，请再问一次。",
}


def configured(settings):
    return settings.has_chat_model


@on.text(*NEW_TOPIC_WORDS, enabled=configured, help="新话题 / reset — 忘掉之前的对话，重新开始")
def new_topic(message, ctx):
    if ctx.session is not None:
        ctx.session[HISTORY_KEY] = []
    return NEW_TOPIC


@on.text(calls_out=True, enabled=configured, help="其他文字 — 和智能助手聊天")
def chat(message, ctx):
    question = message.content.strip()
    if not question:
        return None
    wait = seconds_until_allowed(ctx, message.source)
    if wait:
        return TOO_FAST % in_words(wait)
    from handlers.skills.backends.llm import ChatModel, ModelError

    settings = ctx.settings
    history = recent_turns(ctx)
    messages = [{"role": "system", "content": settings.llm_system_prompt}] if settings.llm_system_prompt else []
    messages += history + [{"role": "user", "content": question}]
    model = ChatModel(settings.llm_api_base, settings.llm_api_key, settings.llm_model)
    try:
        completion = model.complete(messages, timeout=ctx.call_timeout(settings.llm_timeout_seconds))
    except ModelError as e:
        return POLITE.get(e.kind, POLITE["error"])
    ctx.usage = completion.usage
    remember(ctx, history, question, completion.text)
    return completion.text


def recent_turns(ctx):
    """The last llm_history_turns question/answer pairs from the session ([] without one)."""
    turns = ctx.settings.llm_history_turns
    if ctx.session is None or turns <= 0:
        return []
    history = ctx.session.get(HISTORY_KEY) or []
    if not isinstance(history, list):
        return []
    history = [m for m in history if isinstance(m, dict) and m.get("role") in ("user", "assistant")
               and isinstance(m.get("content"), str)]
    return history[-2 * turns:]


def remember(ctx, history, question, answer):
    turns = ctx.settings.llm_history_turns
    if ctx.session is None or turns <= 0:
        return
    history = history + [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    ctx.session[HISTORY_KEY] = history[-2 * turns:]


def seconds_until_allowed(ctx, follower):
    """0 when the follower may ask the model now, else the seconds until they may (llm_rate_limit)."""
    settings = ctx.settings
    if settings.llm_rate_limit <= 0 or ctx.store is None:
        return 0
    import time

    from wechat.store import StoreError

    window = max(1, settings.llm_rate_window_seconds)
    now = time.time()
    started = int(now // window) * window
    prefix = "%s%s:%d:" % (RATE_PREFIX, follower, started)
    try:
        # One slot per question in this window; `add` claims a slot atomically across processes.
        for slot in range(settings.llm_rate_limit):
            if ctx.store.add(prefix + str(slot), "1", window):
                return 0
    except StoreError:
        return 0  # counting is impossible; answering is still better than refusing
    return max(1, int(started + window - now))


def in_words(seconds):
    if seconds < 60:
        return "%d 秒" % seconds
    minutes = (seconds + 59) // 60
    return "%d 分钟" % minutes if minutes < 60 else "%d 小时" % ((minutes + 59) // 60)
