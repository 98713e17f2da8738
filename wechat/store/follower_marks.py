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
Like the claim table, the file is allocated in full before it is put in place; a damaged one is
rebuilt the same way.
"""

import hashlib
import mmap
import os
import struct
import threading

from wechat import datafiles

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

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
            self._lock(True)
            try:
                if MARK.unpack_from(table, offset)[0] < until:
                    MARK.pack_into(table, offset, until)
            finally:
                self._lock(False)

    def _lock(self, take):
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX if take else fcntl.LOCK_UN)
        else:
            os.lseek(self._fd, 0, os.SEEK_SET)
            msvcrt.locking(self._fd, msvcrt.LK_LOCK if take else msvcrt.LK_UNLCK, 1)

    def _mapped(self):
        if self._map is None:
            with self._threads:
                if self._map is None:
                    self._open()
        return self._map

    def _open(self, rebuilt=False):
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            self._create()
            fd = os.open(self.path, os.O_RDWR)
        table = None
        try:
            if os.fstat(fd).st_size == SIZE:
                table = mmap.mmap(fd, SIZE)
                if table[: len(MAGIC)] != MAGIC:
                    table.close()
                    table = None
        except BaseException:
            os.close(fd)
            raise
        if table is None:  # a truncated or foreign file: only a hint, so it is rebuilt from the store
            os.close(fd)
            if rebuilt:
                raise OSError("follower marks %s could not be rebuilt" % self.path)
            os.unlink(self.path)
            return self._open(rebuilt=True)
        self._fd, self._map = fd, table

    def _create(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        partial = "%s.%d.%d.new" % (self.path, os.getpid(), threading.get_ident())
        fd = datafiles.create(partial, os.O_RDWR | os.O_TRUNC)
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, SIZE)
            else:
                os.ftruncate(fd, SIZE)
            table = mmap.mmap(fd, SIZE)
            try:
                table[: len(MAGIC)] = MAGIC
                for follower, expires in self._initial():
                    offset = self._offset(follower)
                    if MARK.unpack_from(table, offset)[0] < expires:
                        MARK.pack_into(table, offset, expires)
                table.flush()
            finally:
                table.close()
            try:
                os.link(partial, self.path)
            except FileExistsError:
                pass  # another process made it first (from the same rows)
        finally:
            os.close(fd)
            os.unlink(partial)
