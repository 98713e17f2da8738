"""Answer each message once, whatever WeChat's retries do, and log it before the reply leaves.

WeChat waits 5 s, then retries the same message up to three times. The first delivery claims the
message in the store (an atomic add), logs it, runs the skills and stores the reply bytes. A retry
that finds the claim waits (within the budget) for that reply and sends the same bytes; if the
first is still running when the budget ends, it answers `success`. Skills therefore run once.
"""

import logging
import time

from wechat.store import StoreError

PENDING = "\x00pending"
REPLY_TTL = 300  # WeChat's retries arrive within ~20 s; five minutes is ample
POLL_SECONDS = 0.05
SUCCESS = b"success"

log = logging.getLogger("wechat")


def log_record(message, received_at):
    return {
        "received_at": received_at,
        "msg_type": message.type,
        "source": message.source,
        "target": message.target,
        "summary": message.summary(),
        "raw": message.raw,
    }


def answer_once(store, message, produce, budget):
    """(reply bytes, outcome) for message, running produce() -> (bytes, outcome) at most once per delivery.

    With no store (None) or a broken one, the message is still answered: losing de-duplication for
    a moment is better than showing the follower an error.
    """
    key = message.dedupe_key
    claim = "reply:" + key
    received_at = time.time()
    try:
        first = store is not None and store.add(claim, PENDING, REPLY_TTL)
        if store is not None and not first:
            return _wait_for_first(store, claim, received_at + budget)
        if first:
            store.log_append(key, log_record(message, received_at))
    except StoreError as e:
        log.error("store unavailable, answering without de-duplication: %s", e)
        store = None
    body, outcome = produce()
    if store is not None:
        try:
            store.set(claim, body.decode("utf-8"), REPLY_TTL)
            store.log_update(key, reply=body.decode("utf-8"), outcome=outcome)
        except StoreError as e:
            log.error("store unavailable, reply not remembered for retries: %s", e)
    return body, outcome


def _wait_for_first(store, claim, deadline):
    while True:
        value = store.get(claim)
        if value is None:
            return SUCCESS, "retry:expired"
        if value != PENDING:
            return value.encode("utf-8"), "retry:replayed"
        if time.time() >= deadline:
            return SUCCESS, "retry:still-running"
        time.sleep(POLL_SECONDS)
