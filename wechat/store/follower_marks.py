"""Which followers may have state in the SQLite store: a shared hint that spares most messages a read.

Every text a follower sends asks the store whether they are owed the rest of an answer, a late answer,
or the answer to a question (their session): one SQLite statement, ~30 us inside a request, and for
nearly every follower it finds nothing. data_dir/followers.map holds, for each of 65,536 buckets of
followers (by a hash of the OpenID), until when something written for one of them can still be live:
the latest expiry written there. A writer raises its follower's mark before it writes; a reader that
finds the mark in the past knows there is nothing to read. Marks are never lowered: they run out.

Reads take no lock (an aligned 8-byte load); raising takes the file's flock, since it is a read, a
compare and a write. A new file starts from the store's live rows (initial(): every session, and
every key named `<prefix>:<follower>`), so state written before the file existed is not hidden.
The file is made like the claim table's (mapped_file.py); a damaged one is rebuilt the same way.
"""

import hashlib
import os
import struct
import threading

from wechat.store import mapped_file

BUCKETS = 1 << 16
MARK = struct.Struct("<d")  # Unix time until which the bucket's followers may have state
MAGIC = b"wechat follower marks 1\n"
HEADER = 4096
SIZE = HEADER + BUCKETS * MARK.size  # 516 KiB


class FollowerMarks:
    def __init__(self, path, initial):
        """initial() -> (follower, expires) pairs to mark in a file being created (the store's live rows)."""
        self.path = path
        self._initial = initial
        self._map = None
        self._fd = None
        self._threads = threading.Lock()  # flock does not exclude threads sharing one descriptor

    @staticmethod
    def _offset(follower):
        bucket = int.from_bytes(hashlib.blake2b(follower.encode("utf-8"), digest_size=4).digest(), "little")
        return HEADER + (bucket % BUCKETS) * MARK.size

    def until(self, follower):
        """Until when this follower may have state (0.0 when nothing was ever written for their bucket)."""
        return MARK.unpack_from(self._mapped(), self._offset(follower))[0]

    def raise_to(self, follower, until):
        """Mark the follower as possibly having state until `until` (no change if marked later already)."""
        table = self._mapped()
        offset = self._offset(follower)
        with self._threads:
            mapped_file.lock(self._fd, True)
            try:
                if MARK.unpack_from(table, offset)[0] < until:
                    MARK.pack_into(table, offset, until)
            finally:
                mapped_file.lock(self._fd, False)

    def _mapped(self):
        if self._map is None:
            with self._threads:
                if self._map is None:
                    try:
                        self._fd, self._map = mapped_file.open_mapped(self.path, SIZE, MAGIC, self._fill)
                    except mapped_file.NotOurFile:  # a truncated or foreign file: only a hint, so rebuilt
                        os.unlink(self.path)
                        self._fd, self._map = mapped_file.open_mapped(self.path, SIZE, MAGIC, self._fill)
        return self._map

    def _fill(self, table):
        table[: len(MAGIC)] = MAGIC
        for follower, expires in self._initial():
            offset = self._offset(follower)
            if MARK.unpack_from(table, offset)[0] < expires:
                MARK.pack_into(table, offset, expires)
