"""What merging the journal into a SQLite log costs per record as the log grows, for the keys messages get.

    python3 bench/log_merge.py [--rows 100000] [--followers 100000]

Keys come from real messages (simulator bodies, parse_message, dedupe_key): MsgId first, then sender.
The reference is the same merge with the sender first (the key order before this round), which puts
each new key somewhere in the middle of the index on `key`.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from admin import simulator  # noqa: E402
from wechat.messages import parse_message  # noqa: E402
from wechat.store import LOG_FIELDS  # noqa: E402
from wechat.store.sqlite_store import SQLiteStore  # noqa: E402

BATCH = 350  # about what a 256 KiB journal file holds


def sender_first(key):
    kind, message_id, sender = key.split(":", 2)
    return "%s:%s:%s" % (kind, sender, message_id)


def rows(count, start, followers, rekey):
    out = []
    for i in range(start, start + count):
        # WeChat's MsgIds grow with time; senders come in any order
        body = simulator.message_xml("text", {"Content": "merge %d" % i, "MsgId": str(24000000000000000 + i)},
                                     source="oFollower%08d" % random.randrange(followers))
        message = parse_message(body)
        record = dict.fromkeys(LOG_FIELDS)
        record.update(received_at=time.time(), key=rekey(message.dedupe_key), msg_type="text", source=message.source,
                      summary=message.summary(), raw=body.decode("utf-8"), reply="<xml>%s</xml>" % ("z" * 300),
                      outcome="reply:text")
        out.append(tuple(record[f] for f in LOG_FIELDS))
    return out


def per_record(rekey, existing, followers, batches=15):
    store = SQLiteStore(os.path.join(tempfile.mkdtemp(prefix="wechat-merge-"), "wechat.sqlite3"))
    done = 0
    while done < existing:
        store.log_merge(rows(min(5000, existing - done), done, followers, rekey))
        done += min(5000, existing - done)
    times = []
    for _ in range(batches):
        batch = rows(BATCH, done, followers, rekey)
        done += BATCH
        started = time.perf_counter()
        store.log_merge(batch)
        times.append((time.perf_counter() - started) / BATCH * 1e6)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100000, help="records in the log before the measured merges")
    parser.add_argument("--followers", type=int, default=100000)
    args = parser.parse_args()
    for existing in (0, args.rows):
        ours = per_record(lambda key: key, existing, args.followers)
        before = per_record(sender_first, existing, args.followers)
        print("merge into a log of %7d records: %5.1f us/record, sender-first keys %5.1f (%.2fx)"
              % (existing, ours, before, ours / before))


if __name__ == "__main__":
    main()
