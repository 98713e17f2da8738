"""笑话 / joke: a random joke, never the same one twice in a row for the same follower."""

import os

from handlers.dispatch import on
from handlers.runtime import current_store
from wechat import jokes
from wechat.store import StoreError

JOKES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jokes.txt")


@on.text("笑话", "讲个笑话", "joke", "jokes", help="笑话 — 讲个笑话")
@on.click("JOKE")
def tell_joke(message, ctx):
    store = current_store(ctx.settings)
    last_key = "jokes:last:" + message.source
    try:
        collection = jokes.load_file(JOKES_FILE) + jokes.fetched(store)
        joke = jokes.pick(collection, store.get(last_key) if store else None)
        if joke and store is not None:
            store.set(last_key, jokes.fingerprint(joke), jokes.LAST_TTL)
    except StoreError:
        joke = jokes.pick(jokes.load_file(JOKES_FILE))  # without the store, repeats are possible
    return joke or "今天的笑话讲完了，明天再来吧。"
