"""Answer each message once, whatever WeChat's retries do, and log it before the reply leaves.

WeChat waits 5 s, then retries the same message up to three times. The first delivery appends the
message to the log (atomic per key: that append is the claim), runs the skills and adds the reply
bytes to its log entry. A retry whose append finds the entry waits (within the budget) for that
reply and sends the same bytes; if the first is still running when the budget ends, it answers
`success`. Skills therefore run once, and one message costs the store two writes.
"""

import logging
import time

from wechat.replies import SUCCESS
from wechat.store import StoreError

POLL_SECONDS = 0.05

log = logging.getLogger("wechat")


def log_record(message, received_at, xml):
    return {
        "received_at": received_at,
        "msg_type": message.type,
        "source": message.source,
        "target": message.target,
        "summary": message.summary(),
        "raw": xml.decode("utf-8", "replace"),  # the message exactly as it came (decrypted in safe mode)
    }


def answer_once(store, message, xml, produce, budget):
    """(reply bytes, outcome) for message, running produce() -> (bytes, outcome) at most once per message.

    With no store (None) or a broken one, the message is still answered: losing de-duplication for
    a moment is better than showing the follower an error.
    """
    key = message.dedupe_key
    received_at = time.time()
    try:
        if store is not None and not store.log_append(key, log_record(message, received_at, xml)):
            return _wait_for_first(store, key, received_at + budget)
    except StoreError as e:
        log.error("store unavailable, answering without de-duplication or log: %s", e)
        store = None
    body, outcome = produce()
    if store is not None:
        try:
            latency_ms = round((time.time() - received_at) * 1000, 1)  # for the console's median and p99
            store.log_update(key, reply=body.decode("utf-8"), outcome=outcome, latency_ms=latency_ms)
        except StoreError as e:
            log.error("store unavailable, reply not remembered for retries: %s", e)
    return body, outcome


def _wait_for_first(store, key, deadline):
    while True:
        _, reply = store.log_reply(key)
        if reply is not None:
            return reply.encode("utf-8"), "retry:replayed"
        if time.time() >= deadline:
            return SUCCESS, "retry:still-running"
        time.sleep(POLL_SECONDS)
