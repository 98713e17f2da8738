"""Run as root, commands and servers leave the data dir's files owned by the data dir's owner, never by root.

`sudo manage.py export` on a data dir Apache's user owns used to create a root-owned SQLite file: the
server could then only read it, and every message logged `attempt to write a readonly database`.
Switching our own identity is not an option (a Python under /root is closed to www-data), so the files
are made, or handed over, with the right owner instead. SQLite itself gives its -wal and -shm files the
database file's owner when it runs as root.
"""

import atexit
import os


def data_dir_owner(data_dir):
    """(uid, gid) of the data dir (or, while it does not exist, of its nearest existing parent) when we run as
    root and that owner is someone else; None when there is nothing to hand over."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    path = os.path.abspath(data_dir)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    st = os.stat(path)
    return None if st.st_uid == 0 else (st.st_uid, st.st_gid)


def keep_data_dir_owner(data_dir, store_file=None):
    """Before a root-run command opens the store: make the data dir and the store's file owned by the data
    dir's owner, and hand anything else it creates there to that owner when the process exits."""
    owner = data_dir_owner(data_dir)
    if owner is None:
        return None
    _make_dirs(data_dir, owner)
    if store_file and not os.path.exists(store_file):
        try:
            # An empty file is a valid new SQLite database; made here, it is never root's for a moment.
            fd = os.open(store_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pass  # the server made it meanwhile
        else:
            os.fchown(fd, *owner)
            os.close(fd)
    atexit.register(hand_over, data_dir, owner)
    return owner


def hand_over(data_dir, owner):
    """chown to `owner` every root-owned file and folder in data_dir; returns how many."""
    count = 0
    for directory, folders, files in os.walk(data_dir):
        for path in [directory] + [os.path.join(directory, name) for name in folders + files]:
            try:
                if os.lstat(path).st_uid == 0:
                    os.lchown(path, *owner)
                    count += 1
            except FileNotFoundError:
                pass  # a SQLite -wal or -shm that went away meanwhile
    return count


def _make_dirs(path, owner):
    missing = []
    path = os.path.abspath(path)
    while not os.path.exists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        os.makedirs(directory, exist_ok=True)
        os.chown(directory, *owner)
