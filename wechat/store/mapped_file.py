"""A fixed-size file in the data dir that every process of the host maps and locks: the claim table, the follower marks.

The file is allocated in full before it is linked into place, so no process ever maps a part that may be
missing and a later full disk cannot make a write to the mapping fail (SIGBUS). A process that dies
holding the lock leaves nothing locked (the kernel drops its flock).
"""

import mmap
import os
import threading

from wechat import datafiles

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt


class NotOurFile(OSError):
    """The file has the wrong size or magic (truncated, or something else); the message says which."""


def create(path, size, fill):
    """Allocate `size` bytes at `path` unless a file is there; fill(mapping) writes the magic and contents first."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = "%s.%d.%d.new" % (path, os.getpid(), threading.get_ident())
    fd = datafiles.create(partial, os.O_RDWR | os.O_TRUNC)
    try:
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, size)
        else:
            os.ftruncate(fd, size)
        table = mmap.mmap(fd, size)
        try:
            fill(table)
            table.flush()
        finally:
            table.close()
        try:
            os.link(partial, path)
        except FileExistsError:
            pass  # another process made it first
    finally:
        os.close(fd)
        os.unlink(partial)


def open_mapped(path, size, magic, fill):
    """(fd, mapping) of the file, created first when missing; NotOurFile when size or magic are wrong."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        create(path, size, fill)
        fd = os.open(path, os.O_RDWR)
    try:
        if os.fstat(fd).st_size != size:
            raise NotOurFile("%s has the wrong size" % path)
        table = mmap.mmap(fd, size)
        if table[: len(magic)] != magic:
            table.close()
            raise NotOurFile("%s is not the file expected there" % path)
        if hasattr(table, "madvise") and hasattr(mmap, "MADV_RANDOM"):
            # Lookups land on random pages: without this, Linux maps 16 neighbours with each page a lookup
            # touches ("fault-around"), and 200 messages showed 13 of the claim table's 16 MiB in a
            # process's RSS (shared pages, there once per host, but what `ps` and the admin see).
            try:
                table.madvise(mmap.MADV_RANDOM)
            except OSError:
                pass  # only a hint
    except BaseException:
        os.close(fd)
        raise
    return fd, table


def lock(fd, take):
    """Take (True) or release (False) the file's exclusive lock across processes."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX if take else fcntl.LOCK_UN)
    else:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK if take else msvcrt.LK_UNLCK, 1)
