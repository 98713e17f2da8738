"""笑话 / joke: a random joke, never the same one twice in a row for the same follower."""

from handlers.skills.backends import jokes
from handlers.skills.registry import on
from wechat.store import StoreError


@on.text("笑话", "讲个笑话", "joke", "jokes", help="笑话 — 讲个笑话")
@on.click("JOKE")
def tell_joke(message, ctx):
    store, jokes_file = ctx.store, ctx.settings.jokes_file
    last_key = "jokes:last:" + message.source
    try:
        collection = jokes.load_file(jokes_file) + jokes.fetched(store)
        joke = jokes.pick(collection, store.get(last_key) if store else None)
        if joke and store is not None:
            store.set(last_key, jokes.fingerprint(joke), jokes.LAST_TTL)
    except StoreError:
        joke = jokes.pick(jokes.load_file(jokes_file))  # without the store, repeats are possible
    return joke or "今天的笑话讲完了，明天再来吧。"
