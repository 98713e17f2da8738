"""Files the server makes in its data dir belong to the data dir's owner, even when root runs it."""

import os


def create(path, flags, mode=0o640):
    """os.open(path, flags | O_CREAT, mode), the file handed to its folder's owner when we are root.

    `sudo python3 code.py` or a root-run manage.py command must not leave a file Apache's user
    cannot write: every later message would fail on it.
    """
    fd = os.open(path, flags | os.O_CREAT, mode)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        folder = os.stat(os.path.dirname(os.path.abspath(path)))
        if folder.st_uid != 0:
            os.fchown(fd, folder.st_uid, folder.st_gid)
    return fd
