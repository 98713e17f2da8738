"""An OpenAI-compatible chat-completions client: one call gives the answer and its token counts, or a ModelError.

Any service that speaks POST {base}/chat/completions works: OpenAI, DeepSeek, Qwen (DashScope's compatible
mode), Moonshot, Zhipu, or a local Ollama / vLLM / llama.cpp server. Each call writes one log line: the
model, the outcome, the latency and the token counts; never the API key, the question or the answer.
"""

import json
import re
import time

from wechat.http import Unreachable, fetch
from wechat.log import log
from wechat.record import Record


# What an API says when its content filter refused the question (OpenAI, Azure, DashScope, Moonshot, Zhipu).
FILTER_CODES = re.compile(r"content.?filter|content.?policy|data_inspection|sensitive|risk|1301", re.I)
THINKING = re.compile(r"^\s*<think>.*?</think>\s*", re.S)  # reasoning models that inline their thoughts


class ModelError(Exception):
    """No usable answer. `kind` picks the follower's polite text; `detail` is for the log (no content)."""

    KINDS = ("down", "timeout", "busy", "refused", "config", "error", "bad_answer")

    def __init__(self, kind, detail):
        super().__init__("%s: %s" % (kind, detail))
        self.kind, self.detail = kind, detail


class Completion(Record):
    # usage: {"prompt_tokens", "completion_tokens", "total_tokens"} or None when the API sent none
    fields = ("text", "usage", "finish_reason")
    defaults = {"usage": None, "finish_reason": ""}


def completions_url(api_base):
    """The chat-completions URL for a base such as https://api.openai.com/v1 (a full URL is kept)."""
    base = api_base.rstrip("/")
    return base if base.endswith("/chat/completions") else base + "/chat/completions"


def error_code(body):
    """The API's short error code or type (never its message, which may quote the question), or ""."""
    try:
        error = json.loads(body.decode("utf-8")).get("error")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ""
    if not isinstance(error, dict):
        return ""
    code = error.get("code") or error.get("type") or ""
    return re.sub(r"[^\w.-]", "", str(code))[:60]


def usage_of(data):
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    counts = {}
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = usage.get(name)
        counts[name] = value if isinstance(value, int) and not isinstance(value, bool) else None
    if counts["total_tokens"] is None and None not in (counts["prompt_tokens"], counts["completion_tokens"]):
        counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
    return counts if any(v is not None for v in counts.values()) else None


def read_completion(response):
    """The Completion in an HTTP answer, or the ModelError that says why there is none."""
    if response.status == 429:
        raise ModelError("busy", "HTTP 429 %s" % error_code(response.body))
    if response.status in (401, 403, 404):
        raise ModelError("config", "HTTP %d %s: check llm_api_base, llm_api_key and llm_model"
                         % (response.status, error_code(response.body)))
    if not response.ok:
        code = error_code(response.body)
        kind = "refused" if response.status == 400 and FILTER_CODES.search(code) else "error"
        raise ModelError(kind, ("HTTP %d %s" % (response.status, code)).strip())
    try:
        data = json.loads(response.body.decode(response.charset()))
        choice = data["choices"][0]
        message = choice.get("message") or {}
        finish_reason = str(choice.get("finish_reason") or "")
        content = message.get("content") or ""
    except (ValueError, LookupError, TypeError, AttributeError, UnicodeDecodeError):
        raise ModelError("bad_answer", "not a chat-completions answer")
    if not isinstance(content, str):
        raise ModelError("bad_answer", "content is not text")
    text = THINKING.sub("", content).strip()
    if not text:
        if finish_reason == "content_filter" or message.get("refusal"):
            raise ModelError("refused", "finish_reason %s" % (finish_reason or "refusal"))
        raise ModelError("bad_answer", "empty answer (finish_reason %s)" % (finish_reason or "none"))
    return Completion(text, usage_of(data), finish_reason)


class ChatModel:
    def __init__(self, api_base, api_key, model):
        self.url = completions_url(api_base)
        self.api_key = api_key
        self.model = model

    def complete(self, messages, timeout):
        """messages: [{"role": "system" | "user" | "assistant", "content": str}] -> Completion, or ModelError."""
        body = json.dumps({"model": self.model, "messages": messages}, ensure_ascii=False).encode("utf-8")
        headers = {"Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        started = time.monotonic()
        try:
            try:
                response = fetch(self.url, "POST", body=body, content_type="application/json; charset=utf-8",
                                 timeout=timeout, headers=headers)
            except Unreachable as e:
                timed_out = time.monotonic() - started >= timeout * 0.95 or "timed out" in str(e)
                raise ModelError("timeout" if timed_out else "down", str(e))
            completion = read_completion(response)
        except ModelError as e:
            log.warning("llm model=%s failed=%s %.0fms: %s", self.model, e.kind, elapsed_ms(started), e.detail)
            raise
        counts = [(completion.usage or {}).get(name) for name in ("prompt_tokens", "completion_tokens", "total_tokens")]
        log.info("llm model=%s ok %.0fms prompt_tokens=%s completion_tokens=%s total_tokens=%s finish=%s",
                 self.model, elapsed_ms(started), *["-" if n is None else n for n in counts],
                 completion.finish_reason or "-")
        return completion


def elapsed_ms(started):
    return (time.monotonic() - started) * 1000
