"""The SQLite store's retry claims and nonce memory: a hash table in a memory-mapped file of the data dir.

A claim must be atomic across every process of the host (CGI, FastCGI), and it is on every message's
path: as a SQLite commit it cost ~25 us alone and far more with 8 FastCGI processes queueing for the
write lock. Here it is one flock around a few memory reads and writes (~5 us), and a process that
dies mid-request leaves nothing locked (the kernel drops its flock). The file is allocated in full
when created, so a later full disk cannot make a write to the mapping fail (SIGBUS).

An entry is (hash of id, hash of body digest, created, lease_until); ids are "k:" + message key and
"n:" + timestamp:nonce. Entries older than the caller's `keep` are free. A bucket of 8 slots with no
free slot gives up its oldest entry: the table holds about half a million entries (two per message:
its claim and its nonce), so past ~200 messages a second for twenty minutes the oldest nonces start
to be forgotten early.
"""

import hashlib
import struct
import threading
import time

from wechat.store import mapped_file

SLOT = struct.Struct("<12s8sId")  # id hash, digest hash, created (s), lease_until: 32 bytes
CREATED = struct.Struct("<I")  # at offset 20 of a slot
SLOTS = 1 << 19  # 16 MiB
BUCKET = 8
BUCKETS = SLOTS // BUCKET
MAGIC = b"wechat claims 1\n"
HEADER = 4096  # the magic, then the slots from the next page
SIZE = HEADER + SLOTS * SLOT.size
EMPTY = b"\0" * 12


class ClaimTableError(OSError):
    """The table cannot be created or used (read-only or full data dir)."""


def _hash(text):
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()


class ClaimTable:
    def __init__(self, path):
        self.path = path
        self._map = None
        self._fd = None
        self._threads = threading.Lock()  # flock does not exclude threads sharing one descriptor

    def _mapped(self):
        if self._map is None:
            try:
                self._fd, self._map = mapped_file.open_mapped(self.path, SIZE, MAGIC, self._fill)
            except mapped_file.NotOurFile as e:
                raise ClaimTableError("claim table: %s; delete it (it is rebuilt)" % e)
        return self._map

    @staticmethod
    def _fill(table):
        table[: len(MAGIC)] = MAGIC

    def _lock(self):
        self._threads.acquire()
        try:
            table = self._mapped()
            mapped_file.lock(self._fd, True)
        except BaseException:
            self._threads.release()
            raise
        return table

    def _unlock(self):
        try:
            mapped_file.lock(self._fd, False)
        finally:
            self._threads.release()

    @staticmethod
    def _find(table, id_hash, now, keep):
        """(offset of id_hash's live entry or None, its (digest hash, lease), offset where it may be written).

        The bucket is copied out of the mapping (256 bytes) and searched there: mmap.find in Python
        3.11 before 3.11.5 (Debian 12's 3.11.2) can read a byte past the range it is given, and past
        the last bucket is the end of the mapping: a segfault whenever the next page is unmapped
        (gh-105235; seen here about once in 30,000 messages under mod_fcgid). A hit must sit at a
        slot's start (a 12-byte hash found across two slots would be a coincidence, but is checked for).
        """
        bucket = HEADER + (int.from_bytes(id_hash[:4], "little") % BUCKETS) * BUCKET * SLOT.size
        slots = table[bucket : bucket + BUCKET * SLOT.size]
        at = slots.find(id_hash)
        while at >= 0 and at % SLOT.size:
            at = slots.find(id_hash, at + 1)
        if at >= 0:
            stored, digest, created, lease = SLOT.unpack_from(slots, at)
            if created + keep > now:
                return bucket + at, (digest, lease), bucket + at
            return None, None, bucket + at  # its own stale entry: rewrite it in place
        free = slots.find(EMPTY)
        while free >= 0 and free % SLOT.size:
            free = slots.find(EMPTY, free + 1)
        if free >= 0:
            return None, None, bucket + free
        oldest, oldest_created = 0, None  # a full bucket: the oldest (or a stale) entry goes
        for offset in range(0, len(slots), SLOT.size):
            created = CREATED.unpack_from(slots, offset + 20)[0]
            if created + keep <= now:
                return None, None, bucket + offset
            if oldest_created is None or created < oldest_created:
                oldest, oldest_created = offset, created
        return None, None, bucket + oldest

    def claim(self, key, digest, nonce, lease_until, keep):
        """("new", None, 0) | ("held", same_digest, lease_until) | ("replayed", None, 0)."""
        key_hash, digest_hash = _hash("k:" + key), _hash(digest)[:8]
        nonce_hash = _hash("n:" + nonce) if nonce else None
        now = time.time()
        table = self._lock()
        try:
            if nonce_hash is not None:
                at, found, nonce_slot = self._find(table, nonce_hash, now, keep)
                if found is not None and found[0] != digest_hash:
                    return "replayed", None, 0.0
                if found is None:  # remembered, whether this body is new or a retry signed afresh
                    SLOT.pack_into(table, nonce_slot, nonce_hash, digest_hash, int(now), 0.0)
            at, found, slot = self._find(table, key_hash, now, keep)
            if found is not None:
                return "held", found[0] == digest_hash, found[1]
            SLOT.pack_into(table, slot, key_hash, digest_hash, int(now), lease_until)
            return "new", None, 0.0
        finally:
            self._unlock()

    def takeover(self, key, old_lease_until, new_lease_until, keep):
        key_hash = _hash("k:" + key)
        now = time.time()
        table = self._lock()
        try:
            at, found, _ = self._find(table, key_hash, now, keep)
            if found is None or found[1] != old_lease_until:
                return False
            stored, digest, created, lease = SLOT.unpack_from(table, at)
            SLOT.pack_into(table, at, stored, digest, created, new_lease_until)
            return True
        finally:
            self._unlock()
