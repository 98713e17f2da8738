"""Jokes: the shipped file plus those fetched into the store; never the same one twice in a row."""

import hashlib
import random
import re

STORE_KEY = "jokes:fetched"
FOREVER = 10 * 365 * 86400
LAST_TTL = 86400


def load_file(path):
    """Jokes from a UTF-8 file: one per paragraph (blank lines between), lines starting with # ignored."""
    with open(path, encoding="utf-8-sig") as f:
        text = "\n".join(line for line in f.read().splitlines() if not line.lstrip().startswith("#"))
    return [normalise(p) for p in re.split(r"\n\s*\n", text) if p.strip()]


def normalise(text):
    """Whitespace folded within lines; line breaks kept (a joke may be a dialogue)."""
    lines = [" ".join(line.split()) for line in text.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def fetched(store):
    import json

    value = store.get(STORE_KEY) if store is not None else None
    return json.loads(value) if value else []


def add_to_store(store, jokes, known=()):
    """Add new jokes (normalised, de-duplicated against the store and `known`); returns how many were new."""
    current = fetched(store)
    seen = {normalise(j) for j in current} | {normalise(j) for j in known}
    added = []
    for joke in map(normalise, jokes):
        if joke and joke not in seen:
            seen.add(joke)
            added.append(joke)
    if added:
        import json

        store.set(STORE_KEY, json.dumps(current + added, ensure_ascii=False), FOREVER)
    return len(added)


def fingerprint(joke):
    return hashlib.sha1(joke.encode("utf-8")).hexdigest()[:16]


def pick(jokes, last_fingerprint=None, rng=random):
    """A random joke other than the last one this follower got (when there is another)."""
    choices = [j for j in jokes if fingerprint(j) != last_fingerprint] or jokes
    return rng.choice(choices) if choices else None
