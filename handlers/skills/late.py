"""Late answers on accounts without the customer-service API: WeChat's own retries carry them.

WeChat gives a delivery 5 s, then delivers the same message again, twice, about 5 s apart. When a
slow skill (calls_out) cannot answer in the first delivery's budget and the account has no
customer-service API (personal subscription accounts, unverified ones), the skill still runs only
once, and every delivery of the message waits for that one running answer:

- the first delivery starts it (a thread, or a forked process under CGI, that outlives the request),
  and its record in the store says when it started;
- a retry finds it running (the journal gave the retry the message once the first delivery's claim
  ran out) and waits for it too; whichever delivery is still waiting when it is ready carries it as
  the passive reply (WeChat has abandoned the earlier ones);
- when it is still not ready by `late_answer_seconds` after it started (the last retry's budget), that
  delivery answers `late_answer_text` ("being prepared ... send any message"), and the answer, when it
  comes, is kept for the follower's next message (continuation.py hands it out first).

Exactly one party keeps a given answer for later: the `handed` marker is taken with the store's atomic
add, by the giving-up delivery (when the answer turned up at the last moment) or by the worker.
"""

import time

from handlers.skills.long_text import OWED_REPLY_PREFIX
from wechat.log import log
from wechat.store import StoreError


PREFIX = "late:"
KEEP_SECONDS = 3600  # how long a running answer's state, and an answer kept for later, live in the store
POLL_SECONDS = 0.1


# An answer is a str or a Reply (a Record): pickled, as text for the store. Imported when used: the
# check for a kept answer runs on every message, and a CGI process with nothing kept never loads pickle.
def _encode(value):
    import base64
    import pickle

    return base64.b64encode(pickle.dumps(value, protocol=4)).decode("ascii")


def _decode(text):
    import base64
    import pickle

    return pickle.loads(base64.b64decode(text))


def carried_by_retries(call, message, ctx, run_detached):
    """call() -> (answer, usage), run once per message across WeChat's deliveries; returns what this
    delivery answers: (answer, usage), or (late_answer_text, None) when the last delivery must give up.

    run_detached(work) runs work beside the request, outliving it (budget.run_detached).
    """
    store = ctx.store
    key = PREFIX + message.dedupe_key
    now = time.time()
    try:
        if store is None:
            raise StoreError("no store")
        if store.add(key + ":started", repr(now), KEEP_SECONDS):
            started = now
            run_detached(lambda: _work(call, store, key, message.source, started, ctx.settings.late_answer_seconds))
        else:
            started = float(store.get(key + ":started") or now)
        return _wait(store, key, message, started + ctx.settings.late_answer_seconds, ctx)
    except StoreError as e:
        # Without the store the deliveries cannot meet: this one runs the skill itself, bounded by the
        # skill's own timeouts, and carries whatever it says.
        log.error("late answer for a %s message without the store (%s): answered by this delivery alone",
                  message.type, e)
        return call()


def _wait(store, key, message, deadline, ctx):
    while time.time() < deadline:
        done = store.get(key + ":done")
        if done is not None:
            return _decode(done)
        time.sleep(POLL_SECONDS)
    store.set(key + ":gave-up", "1", KEEP_SECONDS)
    done = store.get(key + ":done")
    if done is not None and store.add(key + ":handed", "1", KEEP_SECONDS):
        return _decode(done)  # it came at the last moment: this delivery carries it after all
    log.info("late answer for a %s message not ready after %.0f s: the follower gets it with their next message",
             message.type, ctx.settings.late_answer_seconds)
    return ctx.settings.late_answer_text, None


def _work(call, store, key, follower, started, late_answer_seconds):
    """The running answer: computed once, left where every delivery looks, kept for later if they all gave up."""
    result = call()
    answer = result[0] if isinstance(result, tuple) else result
    try:
        store.set(key + ":done", _encode(result), KEEP_SECONDS)
        too_late = time.time() >= started + late_answer_seconds  # no delivery can still be waiting for it
        gave_up = too_late or store.get(key + ":gave-up") is not None
        if gave_up and answer is not None and store.add(key + ":handed", "1", KEEP_SECONDS):
            keep_for_next_message(store, follower, answer)
    except StoreError as e:
        log.error("late answer lost: the store cannot keep it (%s)", e)


def keep_for_next_message(store, follower, answer):
    """The answer waits for the follower's next message: a text as owed parts, any other reply as it is."""
    from handlers.skills.long_text import keep_owed, split_text, text_of

    text = text_of(answer)
    if text is not None:
        keep_owed(store, follower, split_text(text))
    else:
        store.set(OWED_REPLY_PREFIX + follower, _encode(answer), KEEP_SECONDS, follower=follower)
    log.info("late answer kept for the follower's next message")


def take_owed_reply(store, follower):
    """A non-text late answer kept for this follower (then forgotten), or None. One store read when none."""
    try:
        value = store.get(OWED_REPLY_PREFIX + follower)
        if value is None:
            return None
        store.delete(OWED_REPLY_PREFIX + follower)
        return _decode(value)
    except Exception as e:  # StoreError, or what an unreadable pickle raises
        log.error("a late answer kept for a follower is unreadable: %s", e)
        return None
