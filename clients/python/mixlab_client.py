"""Client of `mixlab serve` for training loops in Python: standard library only (http.client).

    from mixlab_client import Client
    client = Client("http://127.0.0.1:8470", token=None)
    session = client.open_session(corpus="web", proportions={"web": 0.7, "code": 0.3},
                                  seed=0, batch_size=8, seq_len=1024, world_size=1)
    for batch in session.batches(rank=0):
        ...  # batch.tokens: array of rows * seq_len ids; batch.domain_per_row; batch.index_per_row
    checkpoint = session.state()              # one JSON-safe dict: sampler + mixer state
    session = client.resume(checkpoint)       # on any server with the same corpus

`batches` asks for `count` batches a request (about 2^20 tokens by default) and keeps the next request in flight
while the loop trains on this one's (static sessions); `state()` checkpoints at the batch the loop
reached, not at what was fetched ahead, and a request that fails on the network is sent again for
the same steps (the server answers the same bytes).

With an online mixer (`mixer={"method": "odm"}`), post each step's per-domain loss sums and token
counts from every rank with `session.observe(rank, step, loss_sum, tokens)`. When torch can be
imported, `MixlabIterableDataset` wraps a session as a `torch.utils.data.IterableDataset`.
The wire format is described in the mixlab README and at /v1/openapi.json.
"""

import http.client
import json
import struct
import sys
import threading
import time
import urllib.parse
from array import array
from concurrent.futures import ThreadPoolExecutor

BATCH_MEDIA_TYPE = "application/vnd.mixlab.batch.v1"


_SPEC_NAMES = {
    "batch_size": "batchSize",
    "seq_len": "seqLen",
    "world_size": "worldSize",
    "block_size": "blockSize",
    "budget_samples": "budgetSamples",
    "budget_tokens": "budgetTokens",
    "max_epochs": "maxEpochs",
    "on_exceed": "onExceed",
    "pad_id": "padId",
}


class MixlabError(Exception):
    """An error answered by the server: HTTP status, stable code, message naming the field."""

    def __init__(self, status, code, message, field=None):
        super().__init__("%s (HTTP %d, %s)" % (message, status, code))
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def _typecode(width):
    if width == 1:
        return "B"
    if width == 2:
        return "H"
    for code in ("I", "L"):
        if array(code).itemsize == 4:
            return code
    raise RuntimeError("no 4-byte unsigned array type on this platform")


class Batch:
    """One packed batch: `rows` rows of `seq_len` token ids, one sample a row."""

    __slots__ = ("step", "rank", "rows", "seq_len", "width", "tokens", "domain_per_row",
                 "index_per_row", "truncated_tokens", "pad_tokens", "proportions", "eval_due")

    def row(self, i):
        """The token ids of row i (an array slice)."""
        return self.tokens[i * self.seq_len:(i + 1) * self.seq_len]


def _decode_at(body, at):
    """Decodes the batch starting at byte `at` of `body`; returns it and where the next one starts."""
    if len(body) - at < 4:
        raise MixlabError(200, "E_TRUNCATED", "batch at byte %d: expected a 4-byte header length, got %d bytes" % (at, len(body) - at))
    (length,) = struct.unpack_from("<I", body, at)
    header = json.loads(bytes(body[at + 4:at + 4 + length]).decode("utf-8"))
    offset = at + ((4 + length + 3) & ~3)
    b = Batch()
    b.rows = header["rows"]
    b.seq_len = header["seqLen"]
    b.width = header["width"]
    n = b.rows * b.seq_len
    end = offset + n * b.width
    if end > len(body):
        raise MixlabError(200, "E_TRUNCATED", "batch at byte %d: expected %d token ids, got %d bytes" % (at, n, max(0, len(body) - offset)))
    tokens = array(_typecode(b.width))
    tokens.frombytes(body[offset:end])
    if sys.byteorder == "big" and b.width > 1:
        tokens.byteswap()
    b.tokens = tokens
    b.step = header.get("step")
    b.rank = header.get("rank")
    b.domain_per_row = header["domainPerRow"]
    b.index_per_row = header["indexPerRow"]
    b.truncated_tokens = header["truncatedTokens"]
    b.pad_tokens = header["padTokens"]
    b.proportions = header.get("proportions")
    b.eval_due = header.get("evalDue", False)
    return b, min(len(body), (end + 3) & ~3)


def decode_batch(body):
    """Decodes the (first) batch of a body of GET /v1/sessions/{id}/batches (bytes) into a Batch."""
    return _decode_at(memoryview(body), 0)[0]


def decode_batches(body):
    """Decodes every batch of a body of GET /v1/sessions/{id}/batches?count=n (they lie back to back)."""
    view = memoryview(body)
    out, at = [], 0
    while at < len(view):
        b, at = _decode_at(view, at)
        out.append(b)
    return out


class Client:
    """A connection to one `mixlab serve` (its base URL, e.g. http://127.0.0.1:8470)."""

    def __init__(self, url, token=None, timeout=300.0, retries=3):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url: expected http://HOST:PORT or https://HOST:PORT, got %r" % url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path
        # One keep-alive connection per thread: a connection a request would leave sockets in
        # TIME_WAIT by the thousand over a long run (and costs a handshake every time).
        self._local = threading.local()

    def _connection(self):
        """This thread's connection, and whether it was used before (a fresh one if idle > 30 s)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and time.monotonic() - getattr(self._local, "used", 0.0) > 30.0:
            self._drop()  # idle long enough that the server may be closing it (Fastify: after 72 s)
            conn = None
        reused = conn is not None
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = cls(self._host, self._port, timeout=self.timeout)
        self._local.used = time.monotonic()
        return conn, reused

    def _drop(self):
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()

    def _request(self, method, path, body=None, raw=False, retry=False):
        """One request; with `retry`, network failures (not HTTP errors) are retried with backoff."""
        for attempt in range(self.retries + 1 if retry else 1):
            try:
                return self._request_once(method, path, body, raw)
            except (OSError, http.client.HTTPException):
                if attempt == (self.retries if retry else 0):
                    raise
                time.sleep(0.5 * 2 ** attempt)
        raise AssertionError("unreachable")

    def _request_once(self, method, path, body, raw):
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in (0, 1):
            conn, reused = self._connection()
            try:
                conn.request(method, self._prefix + path, body=data, headers=headers)
                r = conn.getresponse()
                payload = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop()
                # A GET on a connection the server closed while idle is sent once more, anew; a POST
                # may have been handled, so sending it again is the caller's decision.
                if attempt or not reused or method != "GET":
                    raise
            except BaseException:
                self._drop()
                raise
        if r.will_close:
            self._drop()
        if r.status >= 400:
            text = payload.decode("utf-8", "replace")
            try:
                err = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                raise MixlabError(r.status, "E_HTTP", text or r.reason) from None
            raise MixlabError(r.status, err.get("code", "E_HTTP"), err.get("message", text), err.get("field")) from None
        if r.status == 204:
            return None
        return payload if raw else json.loads(payload.decode("utf-8"))

    def health(self):
        """GET /v1/health."""
        return self._request("GET", "/v1/health")

    def corpora(self):
        """The corpora this server serves, with their domains."""
        return self._request("GET", "/v1/corpora")["corpora"]

    def open_session(self, **spec):
        """Opens a session; keyword names may be snake_case (batch_size) or the API's (batchSize)."""
        body = {_SPEC_NAMES.get(k, k): v for k, v in spec.items() if v is not None}
        return Session(self, self._request("POST", "/v1/sessions", body))

    def session(self, session_id):
        """Attaches to an open session by id (the other ranks of a run that rank 0 opened)."""
        return Session(self, self._request("GET", "/v1/sessions/%s" % urllib.parse.quote(session_id)))

    def resume(self, state):
        """Opens a session from a checkpoint returned by `Session.state()`."""
        return Session(self, self._request("POST", "/v1/sessions", {"state": state}))


class Session:
    """A sampling session: batches per rank, statistics for online mixers, checkpoints."""

    def __init__(self, client, info):
        self.client = client
        self.info = info
        self.id = info["id"]
        self.domains = info["domains"]
        self.world_size = info["worldSize"]
        self.batch_size = info["batchSize"]
        self.seq_len = info["seqLen"]
        self.online = info.get("online") is not None
        # rank -> the next step this object hands to the training loop (ranks it has read).
        self._consumed = {}

    def _path(self, tail=""):
        return "/v1/sessions/%s%s" % (urllib.parse.quote(self.id), tail)

    def fetch(self, rank, step=None, count=1):
        """Up to `count` batches of `rank` from `step` in one request, [] at the end of the stream.

        Fewer than `count` come at the end and, online, when later steps are not decided yet.
        `step` defaults to the step this object reached; a step of the rank's last two responses
        fetches those batches again (the same bytes). Does not move `state()`'s step."""
        if step is None:
            step = self._consumed.get(rank)
        query = {"rank": str(rank), "count": str(count)}
        if step is not None:
            query["step"] = str(step)
        body = self.client._request("GET", self._path("/batches?" + urllib.parse.urlencode(query)), raw=True,
                                    retry=step is not None)
        return [] if body is None else decode_batches(body)

    def next_batch(self, rank, step=None):
        """The next batch of `rank` (or an earlier one again, with its step), None at the end."""
        got = self.fetch(rank, step, 1)
        if not got:
            return None
        self._consumed[rank] = got[0].step + 1
        return got[0]

    def batches(self, rank=0, count=None, prefetch=None):
        """Iterates this rank's batches until the stream ends, `count` a request.

        `count` defaults to about 2^20 tokens a request (32 batches of 16 x 2048), at most 256.
        With `prefetch` (default: static sessions), the next request is in flight while the loop
        trains on this one's batches. Online sessions fetch only steps already decided, so a
        request ahead would wait for statistics the loop has not posted yet."""
        if count is None:
            count = max(1, min(256, (1 << 20) // (self.batch_size * self.seq_len)))
        if prefetch is None:
            prefetch = not self.online
        if rank not in self._consumed:
            self._consumed[rank] = self.describe()["steps"][rank]
        pool = ThreadPoolExecutor(max_workers=1) if prefetch else None
        ahead = None
        try:
            got = self.fetch(rank, self._consumed[rank], count)
            while got:
                nxt = got[-1].step + 1
                if pool is not None:
                    ahead = pool.submit(self.fetch, rank, nxt, count)
                for b in got:
                    self._consumed[rank] = b.step + 1
                    yield b
                if ahead is not None:
                    got, ahead = ahead.result(), None
                else:
                    got = self.fetch(rank, nxt, count)
        finally:
            if ahead is not None:  # left early: let the request in flight finish before the next one
                try:
                    ahead.result()
                except Exception:  # noqa: BLE001 - its batches are fetched again from `_consumed`
                    pass
            if pool is not None:
                pool.shutdown(wait=True)

    def observe(self, rank, step, loss_sum, tokens, kind="train", reference_sum=None, excess_sum=None):
        """Posts one rank's per-domain loss sums (nats) and token counts of a step (online mixers)."""
        body = {"rank": rank, "step": step, "kind": kind, "lossSum": dict(loss_sum), "tokens": dict(tokens)}
        if reference_sum is not None:
            body["referenceSum"] = dict(reference_sum)
        if excess_sum is not None:
            body["excessSum"] = dict(excess_sum)
        return self.client._request("POST", self._path("/stats"), body)

    def describe(self):
        """The session's facts and, online, the mixer's progress."""
        return self.client._request("GET", self._path())

    def state(self, step=None):
        """The checkpoint (sampler + mixer state, one dict) at `step`.

        `step` defaults to the step this object handed the loop (when the ranks it read agree), so
        batches fetched ahead are read again after `resume`; every rank must have fetched it."""
        if step is None and len(set(self._consumed.values())) == 1:
            step = next(iter(self._consumed.values()))
        tail = "/checkpoint" if step is None else "/checkpoint?step=%d" % step
        return self.client._request("GET", self._path(tail))

    def table(self):
        """Requested vs achieved shares per domain."""
        return self.client._request("GET", self._path("/table"))["rows"]

    def close(self):
        self.client._request("DELETE", self._path())


try:  # optional: only where torch can be imported
    import torch as _torch
except ImportError:  # pragma: no cover - depends on the machine
    _torch = None

if _torch is not None:

    def to_tensor(batch):
        """A batch's token ids as an int64 tensor of shape (rows, seq_len)."""
        dtype = {1: _torch.uint8, 2: _torch.int16, 4: _torch.int32}[batch.width]
        raw = _torch.frombuffer(bytearray(batch.tokens.tobytes()), dtype=dtype)
        mask = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}[batch.width]
        return (raw.to(_torch.int64) & mask).view(batch.rows, batch.seq_len)

    class MixlabIterableDataset(_torch.utils.data.IterableDataset):
        """A session's batches for one rank as tensors: {"tokens": int64 [rows, seq_len],
        "domain": int64 [rows], "index": int64 [rows]}. Use with `DataLoader(ds, batch_size=None)`
        and a single loader worker: the server already batches, and the stream has one reader per rank."""

        def __init__(self, session, rank=0):
            super().__init__()
            self.session = session
            self.rank = rank

        def __iter__(self):
            for b in self.session.batches(self.rank):
                yield {
                    "tokens": to_tensor(b),
                    "domain": _torch.tensor(b.domain_per_row, dtype=_torch.int64),
                    "index": _torch.tensor(b.index_per_row, dtype=_torch.int64),
                    "step": b.step,
                }
