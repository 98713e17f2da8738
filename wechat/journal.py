"""The message journal: each message answered once per live claim, recorded once, and never lost.

WeChat waits 5 s, then retries the same message up to three times. For each message:

1. One store write claims it: the key (sender + MsgId, or sender + CreateTime + Event + EventKey) for a
   digest of the body, with a lease until the reply budget (+ a little) ends, and the request's
   (timestamp, nonce) in the same write (the nonce memory that refuses replayed query strings).
2. The first delivery runs the skills. A retry of the same body replays the stored reply bytes; while
   the claim's lease runs it waits for them (inside its own budget); when the lease ran out with no
   reply (the first attempt died), it takes the message over and runs the skills itself. The same key
   with another body is a new message, answered and logged as a conflict; the same (timestamp, nonce)
   with another body is a replay (ReplayedRequest: the endpoint answers 403).
3. The record (message, reply, outcome) is appended to a journal file in the data dir before the reply
   leaves: one write() to an O_APPEND file, in the kernel when it returns, so it survives the process
   (JournalFile says which file: a process's own, or CGI's shared journal.log). The
   journal is merged into the store's log in batches (SQLite), or the record goes to the store at
   once (Redis, whose other hosts need it) and the file only spools what the store could not take.
   When even the file cannot be written (read-only or full disk), the whole record goes into one
   error-log line that `manage.py journal merge --from-log FILE` reads back.

Every store call made while a follower waits is bounded by what is left of the reply budget; when
the store fails, the message is still answered (without de-duplication) and its record spooled.
"""

import hashlib
import marshal
import operator
import os
import struct
import threading
import time
import zlib

from wechat import datafiles
from wechat.log import log
from wechat.replies import SUCCESS
from wechat.store import LOG_FIELDS, NEW, REPLAYED, StoreError

try:
    import fcntl
except ImportError:  # Windows: the journal is opened per append, and renaming an open file fails there
    fcntl = None

LEASE_GRACE = 0.5  # a claim lives for the budget and this much more: about when WeChat gives up
POLL_SECONDS = 0.05  # how often a waiting retry looks for the first delivery's reply
CLAIM_WAIT = 0.5  # longest a claim waits for the store (a SQLite write lock): the skills need the rest
MIN_TAKEOVER = 0.3  # a retry with less budget than this left does not take a message over
STORE_RETRY_SECONDS = 1.0  # after a store failure, this process answers without the store this long
MERGE_BYTES = 256 * 1024  # merge a journal file into the store's log once it holds about this much (~4 ms of work)
MERGE_SECONDS = 30.0  # ... or once its oldest record is this old
MIN_NONCE_MEMORY = 300.0  # claims are kept at least this long, whatever the request-age window
OWN_FILE_CHECK_SECONDS = 1.0  # how often a process looks whether its own journal file was deleted by hand
RECORD_MARK = "wechat-journal-record:"  # prefixes a record written into the error log



class ReplayedRequest(Exception):
    """The request's (timestamp, nonce) was seen before with another body: a replayed query string."""


def message_digest(xml):
    """What tells two bodies under one key apart: a digest of the (decrypted) XML."""
    return hashlib.sha1(xml).hexdigest()[:24]


# A journal record is one frame: magic, payload length, CRC-32, then the LOG_FIELDS values marshalled.
# marshal writes and reads a tuple of strings ~7x faster than JSON, and every message pays for both.
# A frame cut short (a full disk) fails its CRC and the reader finds the next magic.
FRAME = struct.Struct("<4sII")
FRAME_MAGIC = b"\x1eWJ1"


_log_values = operator.itemgetter(*LOG_FIELDS)


def encode_record(record):
    try:
        values = _log_values(record)
    except KeyError:  # a record without some optional fields
        values = tuple(record.get(f) for f in LOG_FIELDS)
    payload = marshal.dumps(values, 4)
    return FRAME.pack(FRAME_MAGIC, len(payload), zlib.crc32(payload)) + payload


def read_rows(data):
    """The records in a journal file's bytes, each as a tuple of LOG_FIELDS values; a torn frame is skipped."""
    rows, at, end = [], data.find(FRAME_MAGIC), len(data)
    fields = len(LOG_FIELDS)
    while 0 <= at <= end - FRAME.size:
        _, length, crc = FRAME.unpack_from(data, at)
        start = at + FRAME.size
        payload = data[start : start + length]
        if len(payload) == length and zlib.crc32(payload) == crc:
            try:
                values = marshal.loads(payload)
            except (EOFError, ValueError, TypeError):
                values = None
            if type(values) is tuple and len(values) == fields:
                rows.append(values)
                at = data.find(FRAME_MAGIC, start + length)
                continue
        at = data.find(FRAME_MAGIC, at + 1)
    return rows


def read_records(data):
    """The records in a journal file's bytes, as dicts."""
    return [dict(zip(LOG_FIELDS, row)) for row in read_rows(data)]


class Journal:
    """One per process and data dir; answer() is the whole protocol for one message."""

    def __init__(self, data_dir, budget, nonce_window=600.0, own_file=True):
        # own_file: this process lives for many requests and appends to a journal file of its own;
        # False for one-request (CGI) processes, which share one
        self.file = JournalFile(data_dir, own_file)
        self.budget = budget
        # A (timestamp, nonce) is acceptable until its timestamp is `window` old, and the timestamp may be
        # `window` ahead of our clock: remember it twice that long.
        self.claims_kept = max(2 * nonce_window + 60, MIN_NONCE_MEMORY)
        self._store_down_until = 0.0  # monotonic; this process's memory that the store just failed
        self._next_spool_check = 0.0

    def answer(self, store, message, xml, produce, nonce=None):
        """(reply bytes, outcome) for the message; produce(deadline) -> (bytes, outcome, usage or None) runs
        the skills (usage: what a language model used, {"prompt_tokens", "completion_tokens", ...}).

        nonce: "timestamp:nonce" of the request, or None. Raises ReplayedRequest.
        """
        deadline = time.monotonic() + self.budget
        received_at = time.time()
        key, digest = message.dedupe_key, message_digest(xml)
        outcome_note = ""
        if store is not None and time.monotonic() < self._store_down_until:
            store = None
        if store is not None:
            try:
                key, settled, outcome_note = self._settle(store, key, digest, nonce, deadline)
                if settled is not None:
                    return settled
            except StoreError as e:
                self._store_failed(e, "answering without de-duplication")
                store = None
        body, outcome, usage = produce(deadline)
        outcome = outcome_note + outcome
        usage = usage or {}
        record = {"received_at": received_at, "key": key, "digest": digest, "msg_type": message.type,
                  "source": message.source, "target": message.target, "summary": message.summary(),
                  "raw": xml.decode("utf-8", "replace"), "reply": body.decode("utf-8", "replace"),
                  "outcome": outcome,
                  # for the console's median and p99: from arrival until the reply was ready
                  "latency_ms": round((time.time() - received_at) * 1000, 1),
                  "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens")}
        self.keep(store, record, deadline)
        return body, outcome

    def _settle(self, store, key, digest, nonce, deadline):
        """Claim the message: (key, None, note) when this delivery must run the skills, or
        (key, (bytes, outcome), "") when it is answered already (or still being answered)."""
        lease = self.budget + LEASE_GRACE
        claim_deadline = min(deadline, time.monotonic() + CLAIM_WAIT)
        claim = store.claim(key, digest, nonce, time.time() + lease, self.claims_kept, claim_deadline)
        if claim.state == REPLAYED:
            raise ReplayedRequest("(timestamp, nonce) %s seen before with another body" % nonce)
        if claim.state == NEW:
            return key, None, ""
        note = ""
        if claim.digest != digest:
            # The same key with another body: a message of its own (a sender reusing a MsgId, or
            # two events in one second). Its retries find it under its own key.
            key, note = "%s~%s" % (key, digest[:12]), "conflict:"
            claim = store.claim(key, digest, None, time.time() + lease, self.claims_kept, claim_deadline)
            if claim.state == NEW:
                log.warning("message key conflict: %s came again with another body; answered as a new message",
                            key.rsplit("~", 1)[0])
                return key, None, note
        try:
            return self._wait_for_reply(store, claim, key, digest, note, deadline)
        except StoreError as e:
            # The store went away while this retry waited: the first delivery may still answer, so
            # running the skills again here could answer twice.
            log.error("store unavailable while a retry waited for its reply: %s", e)
            return key, (SUCCESS, note + "retry:store-unavailable"), ""

    def _wait_for_reply(self, store, claim, key, digest, note, deadline):
        """A retry of a claimed body: poll for the reply (reads only); take over a claim whose lease ran out."""
        lease = self.budget + LEASE_GRACE
        while True:
            reply = self._find_reply(store, key, digest, deadline)
            if reply is not None:
                return key, (reply.encode("utf-8"), note + "retry:replayed"), ""
            left = deadline - time.monotonic()
            if time.time() >= claim.lease_until and left >= MIN_TAKEOVER:
                # The first attempt can no longer answer (its process died, or it ran out of time).
                if store.claim_takeover(key, claim.lease_until, time.time() + lease, deadline):
                    log.warning("retry took over %s: the first delivery's claim expired with no reply", key)
                    return key, None, note + "retry:took-over:"
                claim = store.claim(key, digest, None, time.time() + lease, self.claims_kept, deadline)
                if claim.state == NEW:  # swept meanwhile: ours now
                    return key, None, note
                continue  # another retry took it over: wait for its reply
            if left <= POLL_SECONDS + 0.3:  # the next store call could not finish inside the budget
                return key, (SUCCESS, note + "retry:still-running"), ""
            time.sleep(POLL_SECONDS)

    def _find_reply(self, store, key, digest, deadline):
        record = self.file.find(key) or store.log_find(key, deadline)
        if record and record.get("digest") in (digest, None) and record.get("reply"):
            return record["reply"]
        return None

    def keep(self, store, record, deadline):
        """Record an answered message: into the journal (or, for Redis, the store); spool or error log if not."""
        if store is not None and not store.local_journal:
            try:
                store.log_merge([record], deadline)
                self._merge_spool_if_any(store, deadline)
                return
            except StoreError as e:
                self._store_failed(e, "message spooled")
                store = None
        try:
            due = self.file.append(encode_record(record))
        except OSError as e:
            self._lost(record, e)
            return
        if due and store is not None:
            self.merge(store, min(deadline, time.monotonic() + CLAIM_WAIT), live=False)

    def _merge_spool_if_any(self, store, deadline):
        """Redis: records spooled while it was away go in as soon as it is back (checked once a second)."""
        now = time.monotonic()
        if now >= self._next_spool_check:
            self._next_spool_check = now + 1.0
            if self.file.pending():
                self.merge(store, deadline, live=False)

    def merge(self, store, deadline=None, live=True):
        """Move the journal into the store's log; returns how many records were new. Never raises.

        live: also what other processes are writing right now (for a reader that needs every record).
        """
        try:
            return self.file.merge(store, deadline, live)
        except StoreError as e:
            self._store_failed(e, "journal kept for the next merge")
        except OSError as e:
            log.error("journal in %s not merged: %s", self.file.directory, e)
        return 0

    def _store_failed(self, error, consequence):
        log.error("store unavailable, %s: %s", consequence, error)
        self._store_down_until = time.monotonic() + STORE_RETRY_SECONDS

    def _lost(self, record, error):
        """The last resort: the whole record in one error-log line (manage.py journal merge --from-log)."""
        import base64
        import zlib

        import json

        packed = base64.b64encode(zlib.compress(json.dumps(record, ensure_ascii=False).encode("utf-8"))).decode("ascii")
        log.error("store unavailable and the journal in %s unwritable (%s): a %s message from %s was answered but is "
                  "not in the log; restore it with `manage.py journal merge --from-log <this log>`: %s%s",
                  self.file.directory, error, record["msg_type"], record["source"], RECORD_MARK, packed)


def records_in_log(lines):
    """The records that _lost() wrote into an error log, from its lines (any prefix or suffix around them)."""
    import base64
    import binascii
    import json
    import re

    found = []
    pattern = re.compile(re.escape(RECORD_MARK) + r"([A-Za-z0-9+/=]+)")
    for line in lines:
        for packed in pattern.findall(line):
            try:
                found.append(json.loads(zlib.decompress(base64.b64decode(packed))))
            except (binascii.Error, zlib.error, ValueError):
                continue
    return found


class JournalFile:
    """The journal files of a data dir: the one this process appends to, and every process's, to merge or search.

    A long-lived process (FastCGI, WSGI) appends to a file of its own, journal.<time>.<pid>.log, and
    holds its exclusive flock for as long as it writes there: an append is one write(), with no lock
    taken (and, once a second, an fstat() that notices a file deleted by hand). When the file is due
    for merging (MERGE_BYTES, or MERGE_SECONDS after its first record) the process lets go of it and
    starts another at its next append. One-request processes (CGI), and systems without flock,
    share journal.log instead: each append holds a shared flock for its one write(); a merger renames
    journal.log to journal.<time>.<pid>.merging (the next append starts a fresh journal.log), then
    takes that file's exclusive flock, which waits only for appends in flight.

    Mergers run one at a time (journal.lock). A merge hands every file no process holds to the store
    and deletes it; a merge for a reader (export, the console: `live`) also hands over the files
    processes are still writing, and leaves them: merges are idempotent per key, so their owners
    merging them again later adds nothing twice. A merge that fails (store down) leaves its files for
    the next one.
    """

    SHARED = "journal.log"
    HEADER = b"#wechat journal, created %.3f\n"

    def __init__(self, directory, own=None):
        self.directory = directory
        self.path = os.path.join(directory, self.SHARED)
        # own: this process keeps a file of its own (needs flock: a merger must see whether it is held)
        self.own = fcntl is not None and own is not False
        self._fd = None
        self._file_path = None
        self._size = 0  # own file: bytes written to it, header included
        self._due = None  # own file: time.time() at which its records are old enough to merge
        self._check_at = 0.0  # own file: when to look again whether someone deleted it
        self._created = 0.0  # journal.log: its creation time, from its header
        self._lock = threading.Lock()  # a FastCGI backend on TCP serves on threads: one fd, one append at a time

    def append(self, data):
        """Append one encoded record; True when the journal is due for merging (size or age)."""
        with self._lock:
            if self.own:
                return self._append_own(data)
            size, created = self._append_shared(data)
            return size >= MERGE_BYTES or time.time() - created >= MERGE_SECONDS

    def _append_own(self, data):
        now = time.time()
        if self._fd is not None and now >= self._check_at:
            self._check_at = now + OWN_FILE_CHECK_SECONDS
            if os.fstat(self._fd).st_nlink == 0:
                log.warning("journal file %s was deleted while this process wrote it; starting another",
                            self._file_path)
                os.close(self._fd)
                self._fd = None
        if self._fd is None:
            self._start_own_file()
        written = os.write(self._fd, data)
        self._check_written(written, data)
        if self._due is None:  # the file's first record: it is due for merging this much later
            self._due = now + MERGE_SECONDS
        self._size += written
        return self._size >= MERGE_BYTES or now >= self._due

    def _start_own_file(self):
        """Create, lock, then name the file: a merger never sees it under a journal name unheld."""
        name = "journal.%d.%d.log" % (time.time_ns(), os.getpid())  # by name is by age
        partial = os.path.join(self.directory, name + ".new")
        os.makedirs(self.directory, exist_ok=True)
        fd = datafiles.create(partial, os.O_WRONLY | os.O_EXCL | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            header = self.HEADER % time.time()
            self._check_written(os.write(fd, header), header)
            self._file_path = os.path.join(self.directory, name)
            os.rename(partial, self._file_path)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(partial)
            except OSError:
                pass
            raise
        self._fd, self._size, self._due = fd, len(header), None

    def retire(self, for_good=False):
        """Let go of this process's file (its records wait for a merger); the next append starts another,
        or, for_good (this journal is being replaced: config changed), appends to the shared journal.log."""
        with self._lock:
            if self._fd is not None and (self.own or for_good):
                os.close(self._fd)  # an own file's flock goes with it: the file is free to merge and delete
                self._fd = None
            if for_good:
                self.own = False

    def _append_shared(self, line):
        for _ in range(5):
            fd = self._open_shared()
            if fcntl is None:
                try:
                    written = os.write(fd, line)
                    size = os.fstat(fd).st_size
                finally:
                    os.close(fd)
                    self._fd = None
                self._check_written(written, line)
                return size, self._created
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # a merger holds it: this file was renamed for merging
                self._forget()
                continue
            try:
                status = os.fstat(fd)
                if status.st_nlink == 0:  # merged and unlinked
                    self._forget()
                    continue
                written = os.write(fd, line)
            finally:
                if self._fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            self._check_written(written, line)
            return status.st_size + written, self._created
        raise OSError("journal %s kept changing under this append" % self.path)

    @staticmethod
    def _check_written(written, line):
        if written != len(line):
            import errno

            raise OSError(errno.ENOSPC, "short write to the journal (disk full?)")

    def _forget(self):
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None

    def _open_shared(self):
        if self._fd is not None:
            return self._fd
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                self._create_shared()
                continue
            try:
                header = os.pread(fd, 64, 0) if hasattr(os, "pread") else b""
                self._created = float(header.split(b"created ", 1)[1].split(b"\n", 1)[0])
            except (IndexError, ValueError):
                self._created = time.time()
            self._fd = fd
            return fd
        raise OSError("journal %s could not be opened" % self.path)

    def _create_shared(self):
        """Create journal.log with its header line in one step (link a finished file into place)."""
        os.makedirs(self.directory, exist_ok=True)
        partial = "%s.%d.%d.new" % (self.path, os.getpid(), threading.get_ident())
        fd = datafiles.create(partial, os.O_WRONLY | os.O_EXCL)
        try:
            os.write(fd, self.HEADER % time.time())
        finally:
            os.close(fd)
        try:
            os.link(partial, self.path)
        except FileExistsError:
            pass  # another process made it first
        finally:
            os.unlink(partial)

    def pending(self):
        """The files holding records that may not be in the store's log yet: retired ones first."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        found = sorted(n for n in names if n.startswith("journal.") and n.endswith(".merging"))
        found += sorted(n for n in names if n.startswith("journal.") and n.endswith(".log"))
        return [os.path.join(self.directory, n) for n in found]

    def merge(self, store, deadline=None, live=True):
        """Merge the pending files into the store's log (one merger at a time); returns the new records.

        live: also the files other processes are still writing (left in place), as a reader needs.
        """
        lock = self._merge_lock()
        if lock is False:
            return 0  # another process is merging right now
        try:
            self.retire()
            try:
                os.rename(self.path, os.path.join(
                    self.directory, "journal.%.6f.%d.merging" % (time.time(), os.getpid())))
            except FileNotFoundError:
                pass
            except PermissionError:
                pass  # Windows: a process has it open; merged next time
            return sum(self._merge_file(store, path, deadline, live)
                       for path in self.pending() if path != self.path)
        finally:
            if lock is not None:
                os.close(lock)

    def _merge_lock(self):
        """An fd holding the exclusive merge lock, None where there is no flock, False when it is taken."""
        if fcntl is None:
            return None
        fd = datafiles.create(os.path.join(self.directory, "journal.lock"), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            os.close(fd)
            return False

    def _merge_file(self, store, path, deadline, live):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return 0
        try:
            held = False
            if fcntl is not None:
                if path.endswith(".merging"):
                    fcntl.flock(fd, fcntl.LOCK_EX)  # waits only for appends in flight (one write() each)
                else:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        held = True  # its process is still writing it
                if not held and os.fstat(fd).st_nlink == 0:
                    return 0
            if held and not live:
                return 0
            with os.fdopen(os.dup(fd), "rb") as f:
                rows = read_rows(f.read())  # log_merge takes them as they are: no dict per record
            added = store.log_merge(rows, deadline)
            if not held:
                os.unlink(path)
            return added
        finally:
            os.close(fd)

    def find(self, key):
        """The newest record of `key` still in a journal file, or None."""
        for path in reversed(self.pending()):
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if key.encode("utf-8") in data:
                found = [r for r in read_records(data) if r["key"] == key]
                if found:
                    return found[-1]
        return None
