"""Client of `mixlab serve` for training loops in Python: standard library only.

    from mixlab_client import Client
    client = Client("http://127.0.0.1:8470", token=None)
    session = client.open_session(corpus="web", proportions={"web": 0.7, "code": 0.3},
                                  seed=0, batch_size=8, seq_len=1024, world_size=1)
    for batch in session.batches(rank=0):
        ...  # batch.tokens: array of rows * seq_len ids; batch.domain_per_row; batch.index_per_row
    checkpoint = session.state()              # one JSON-safe dict: sampler + mixer state
    session = client.resume(checkpoint)       # on any server with the same corpus

With an online mixer (`mixer={"method": "odm"}`), post each step's per-domain loss sums and token
counts from every rank with `session.observe(rank, step, loss_sum, tokens)`. When torch can be
imported, `MixlabIterableDataset` wraps a session as a `torch.utils.data.IterableDataset`.
The wire format is described in the mixlab README and at /v1/openapi.json.
"""

import json
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request
from array import array

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


def decode_batch(body):
    """Decodes the body of GET /v1/sessions/{id}/batches (bytes) into a Batch."""
    (length,) = struct.unpack_from("<I", body, 0)
    header = json.loads(body[4:4 + length].decode("utf-8"))
    offset = (4 + length + 3) & ~3
    b = Batch()
    b.rows = header["rows"]
    b.seq_len = header["seqLen"]
    b.width = header["width"]
    n = b.rows * b.seq_len
    tokens = array(_typecode(b.width))
    tokens.frombytes(body[offset:offset + n * b.width])
    if sys.byteorder == "big" and b.width > 1:
        tokens.byteswap()
    if len(tokens) != n:
        raise MixlabError(200, "E_TRUNCATED", "batch: expected %d token ids, got %d" % (n, len(tokens)))
    b.tokens = tokens
    b.step = header.get("step")
    b.rank = header.get("rank")
    b.domain_per_row = header["domainPerRow"]
    b.index_per_row = header["indexPerRow"]
    b.truncated_tokens = header["truncatedTokens"]
    b.pad_tokens = header["padTokens"]
    b.proportions = header.get("proportions")
    b.eval_due = header.get("evalDue", False)
    return b


class Client:
    """A connection to one `mixlab serve` (its base URL, e.g. http://127.0.0.1:8470)."""

    def __init__(self, url, token=None, timeout=300.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(self, method, path, body=None, raw=False):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                payload = r.read()
                if r.status == 204:
                    return None
                return payload if raw else json.loads(payload.decode("utf-8"))
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            try:
                err = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                raise MixlabError(e.code, "E_HTTP", text or str(e)) from None
            raise MixlabError(e.code, err.get("code", "E_HTTP"), err.get("message", text), err.get("field")) from None

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
        self._next_step = list(info["steps"])

    def _path(self, tail=""):
        return "/v1/sessions/%s%s" % (urllib.parse.quote(self.id), tail)

    def next_batch(self, rank, step=None):
        """The next batch of `rank` (or the same one again with step = the last step), None at the end."""
        query = {"rank": str(rank)}
        if step is not None:
            query["step"] = str(step)
        body = self.client._request("GET", self._path("/batches?" + urllib.parse.urlencode(query)), raw=True)
        if body is None:
            return None
        b = decode_batch(body)
        self._next_step[rank] = b.step + 1
        return b

    def batches(self, rank=0):
        """Iterates this rank's batches until the stream ends."""
        while True:
            b = self.next_batch(rank)
            if b is None:
                return
            yield b

    def observe(self, rank, step, loss_sum, tokens, kind="train", reference_sum=None):
        """Posts one rank's per-domain loss sums (nats) and token counts of a step (online mixers)."""
        body = {"rank": rank, "step": step, "kind": kind, "lossSum": dict(loss_sum), "tokens": dict(tokens)}
        if reference_sum is not None:
            body["referenceSum"] = dict(reference_sum)
        return self.client._request("POST", self._path("/stats"), body)

    def describe(self):
        """The session's facts and, online, the mixer's progress."""
        return self.client._request("GET", self._path())

    def state(self):
        """The checkpoint (sampler + mixer state, one dict); every rank must be at the same step."""
        return self.client._request("GET", self._path("/checkpoint"))

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
