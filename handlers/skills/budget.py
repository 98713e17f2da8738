"""The 5-second budget: a skill that calls out answers in time, or later through the customer-service API.

WeChat gives up on a reply after 5 s. A skill registered with calls_out=True runs beside the request;
on an account with the customer-service API (appid/appsecret set), if it has not answered when the
budget ends, the follower gets `success` now and the answer is sent later with that API. (Without the
API, WeChat's retries carry the answer: late.py.)

Exactly one side decides, once: the request either takes the answer (it came in time) or abandons
it, and the worker delivers an abandoned answer itself. Long-lived processes (dev server, FastCGI,
WSGI) use a thread. Under CGI, Apache kills the script a few seconds after the response, so the
worker is a forked process in its own session that outlives it.
"""

import os
import threading

from wechat.log import log

TOOK, ABANDONED = b"T", b"A"


def run_with_budget(call, budget, deliver_late, use_fork=False):
    """call() -> answer; call must not raise (the registry's attempt() catches a skill's exception). Returns (True, answer) when it came within `budget` seconds, else (False, None)
    and deliver_late(answer) runs when it arrives."""
    if use_fork and hasattr(os, "fork"):
        return _forked(call, budget, deliver_late)
    return _threaded(call, budget, deliver_late)


def run_detached(work, use_fork=False):
    """work() beside the request, outliving it (the budget's worker with a budget of nothing); must not raise."""
    run_with_budget(work, 0, lambda _: None, use_fork)


def _threaded(call, budget, deliver_late):
    lock = threading.Lock()
    state = {"done": False, "abandoned": False, "answer": None}
    finished = threading.Event()

    def work():
        answer = call()
        with lock:
            state["answer"], state["done"] = answer, True
            late = state["abandoned"]
        finished.set()
        if late:
            deliver_late(answer)

    threading.Thread(target=work, name="slow-skill", daemon=True).start()
    finished.wait(budget)
    with lock:
        if state["done"]:
            return True, state["answer"]
        state["abandoned"] = True
    return False, None


def _forked(call, budget, deliver_late):
    import pickle
    import select

    result_read, result_write = os.pipe()
    decision_read, decision_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: detach from Apache, compute, then obey the request's one decision
        try:
            os.close(result_read)
            os.close(decision_write)
            os.setsid()
            _detach_stdio()
            answer = call()
            try:
                os.write(result_write, pickle.dumps(answer))
            except (OSError, pickle.PicklingError):
                pass
            os.close(result_write)
            decision = os.read(decision_read, 1)
            if decision != TOOK:  # abandoned, or the request died: deliver it ourselves
                deliver_late(answer)
        finally:
            os._exit(0)
    os.close(result_write)
    os.close(decision_read)
    ready, _, _ = select.select([result_read], [], [], budget)
    data = b""
    if ready:
        while True:
            chunk = os.read(result_read, 65536)
            if not chunk:
                break
            data += chunk
    os.close(result_read)
    os.write(decision_write, TOOK if data else ABANDONED)
    os.close(decision_write)
    if not data:
        return False, None
    try:
        return True, pickle.loads(data)
    except Exception:
        return True, None


def _detach_stdio():
    """Let go of the pipes to Apache (it waits for their end) and log to a file instead of stderr."""
    import logging

    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    for handler in log.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setStream(open(os.devnull, "w"))


def send_late(message, ctx, answer):
    """Deliver an answer that missed the budget through the customer-service API (accounts without it have
    their late answers carried by WeChat's retries instead: late.py)."""
    from handlers.skills.long_text import send_in_parts, split_text, text_of, too_long
    from wechat.client import WeChatAPIError, WeChatClient

    if too_long(text_of(answer)):  # a customer-service text has WeChat's limit too
        send_in_parts(ctx, message.source, split_text(text_of(answer)))
        return
    try:
        WeChatClient(ctx.settings, ctx.store).send_reply(message.source, answer)
        log.info("late answer for a %s message sent through the customer-service API", message.type)
    except WeChatAPIError as e:
        log.error("late answer for a %s message not delivered: %s", message.type, e)
