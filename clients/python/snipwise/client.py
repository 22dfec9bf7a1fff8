"""A thin, typed wrapper over the generated snipwise.v1 stubs.

Every method sends the API key as `authorization: Bearer <key>`, applies the
client's timeout, and turns a gRPC error into `SnipwiseError` with the status
code name and the server's message.
"""
from __future__ import annotations

from typing import Iterable, Iterator, List, Optional, Sequence, Union

import importlib
import os
import re
import time

import grpc

from snipwise.v1 import (admin_pb2, admin_pb2_grpc, common_pb2, ingest_pb2,
                         ingest_pb2_grpc, outcome_pb2, outcome_pb2_grpc,
                         ranking_pb2, ranking_pb2_grpc, snippet_pb2,
                         snippet_pb2_grpc, suggest_pb2, suggest_pb2_grpc,
                         team_pb2, team_pb2_grpc)


def _snake(name: str) -> str:
    """ListThreads -> list_threads."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _pb_fields(buf: bytes):
    """(field number, value) of each varint or length-delimited field of a
    protobuf message: enough to read google.rpc.Status and ErrorInfo
    without their generated classes."""
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _read_varint(buf, i)
        elif wire == 2:
            n, i = _read_varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        else:
            return
        yield num, val


def _read_varint(buf: bytes, i: int):
    shift = n = 0
    while i < len(buf):
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7
    raise ValueError("truncated varint")


_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def _moving_retry_after(err) -> Optional[float]:
    """Seconds to wait before repeating a call refused because its team is
    moving between nodes (UNAVAILABLE with the ErrorInfo reason TEAM_MOVING
    or TEAM_MOVED and metadata retry_after_ms, in the call's
    grpc-status-details-bin); None for any other error."""
    if err.code() != grpc.StatusCode.UNAVAILABLE:
        return None
    try:
        for k, v in err.trailing_metadata() or ():
            if k != "grpc-status-details-bin":
                continue
            for num, any_msg in _pb_fields(v):
                if num != 3:  # Status.details (Any)
                    continue
                f = dict(_pb_fields(any_msg))
                if f.get(1, b"").decode() != _ERROR_INFO:
                    continue
                reason, meta = "", {}
                for n2, val in _pb_fields(f.get(2, b"")):
                    if n2 == 1:
                        reason = val.decode()
                    elif n2 == 3:  # metadata map entry
                        e = dict(_pb_fields(val))
                        meta[e.get(1, b"").decode()] = e.get(2, b"").decode()
                if reason in ("TEAM_MOVING", "TEAM_MOVED"):
                    ms = int(meta.get("retry_after_ms") or 500)
                    return min(max(ms, 10), 5000) / 1000.0
    except (ValueError, UnicodeDecodeError):
        return None
    return None


class SnipwiseError(Exception):
    """A call failed: `code` is the grpc.StatusCode, `message` the reason."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__("%s: %s" % (code.name, message))
        self.code = code
        self.message = message


PathLike = Union[str, "os.PathLike[str]"]

# grpc.health.v1 by hand: HealthCheckRequest {string service = 1} and
# HealthCheckResponse {ServingStatus status = 1}. Generated stubs would
# need a top-level package of their own (grpcio-health-checking's
# grpc_health), which the client must not shadow or clash with.
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _health_request(service: str) -> bytes:
    b = service.encode("utf-8")
    return b"\x0a" + _varint(len(b)) + b if b else b""


def _read_varint(data: bytes, i: int) -> "tuple[int, int]":
    n, shift = 0, 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _health_status(data: bytes) -> int:
    """HealthCheckResponse.status (0, UNKNOWN, when absent); other fields
    are skipped by their wire type."""
    status, i = 0, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(data, i)
            if field == 1:
                status = v
        elif wire == 2:
            n, i = _read_varint(data, i)
            i += n
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError("wire type %d in a HealthCheckResponse" % wire)
    if i != len(data):
        raise ValueError("truncated HealthCheckResponse")
    return status


def _req(cls, request, fields):
    """The request message: the one given, or one built from fields."""
    if request is not None:
        if fields:
            raise TypeError("pass the request or its fields, not both")
        return request
    return cls(**fields)


def _eml_files(paths, suffixes) -> List[str]:
    """The files ingest_files sends, in order (see there)."""
    if isinstance(paths, (str, bytes)) or hasattr(paths, "__fspath__"):
        paths = [paths]
    want = tuple(s.lower() for s in suffixes)
    out: List[str] = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out.extend(os.path.join(root, n) for n in sorted(names)
                           if not n.startswith(".") and
                           n.lower().endswith(want))
        elif os.path.isfile(p):
            out.append(p)
        else:
            raise FileNotFoundError(p)
    return out


# Every snipwise.v1 module that defines a service.
_SERVICE_MODULES = [importlib.import_module("snipwise.v1.%s_pb2" % n) for n in (
    "admin", "team", "ingest", "outcome", "suggest", "snippet", "ranking",
    "llm", "mailbox")]


class Client:
    """A connection to snipd. Use as a context manager or call close()."""

    def __init__(self, addr: Optional[str] = None, key: Optional[str] = None,
                 tls_ca: Optional[bytes] = None, timeout: float = 30.0):
        # The environment, as snipctl reads it, when not given.
        addr = addr or os.environ.get("SNIPWISE_ADDR") or "127.0.0.1:50051"
        key = key if key is not None else os.environ.get("SNIPWISE_KEY")
        if tls_ca is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=tls_ca)
            self._channel = grpc.secure_channel(addr, creds)
        else:
            self._channel = grpc.insecure_channel(addr)
        self._md = (("authorization", "Bearer " + key),) if key else ()
        self._timeout = timeout
        self._health_check = self._channel.unary_unary(
            _HEALTH_CHECK, request_serializer=_health_request,
            response_deserializer=_health_status)
        self.admin = admin_pb2_grpc.AdminServiceStub(self._channel)
        self.team = team_pb2_grpc.TeamServiceStub(self._channel)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self.outcome = outcome_pb2_grpc.OutcomeServiceStub(self._channel)
        self.suggest_stub = suggest_pb2_grpc.SuggestServiceStub(self._channel)
        self.snippet = snippet_pb2_grpc.SnippetServiceStub(self._channel)
        self.ranking = ranking_pb2_grpc.RankingServiceStub(self._channel)
        self._bind_every_rpc()

    # -- every RPC, with keyword arguments -------------------------------------
    def _bind_every_rpc(self) -> None:
        """Gives the client a method per RPC of every snipwise.v1 service,
        named in snake_case (ListThreads -> list_threads), unless a method
        of that name is written out below. Each takes the request message,
        or its fields as keyword arguments:

            c.list_threads(page_size=10)
            c.suggest_rpc(thread_id="th_...", draft_text="Here is")

        Unary calls return the response; server streams an iterator;
        IngestEmails an iterable of requests. Errors raise SnipwiseError."""
        for mod in _SERVICE_MODULES:
            for svc in mod.DESCRIPTOR.services_by_name.values():
                stub = self._stub_for(mod, svc)
                for m in svc.methods:
                    name = _snake(m.name)
                    if hasattr(type(self), name):
                        name += "_rpc"  # a written-out method has the name
                    setattr(self, name, self._rpc(stub, m))

    def _stub_for(self, mod, svc):
        """The generated stub of service svc (in module mod's _grpc twin)."""
        grpc_mod = importlib.import_module(mod.__name__ + "_grpc")
        return getattr(grpc_mod, svc.name + "Stub")(self._channel)

    def _rpc(self, stub, m):
        from google.protobuf import symbol_database
        req_cls = symbol_database.Default().GetSymbol(m.input_type.full_name)
        fn = getattr(stub, m.name)

        def call(request=None, **fields):
            if m.client_streaming:
                reqs = request if request is not None else fields["requests"]
                return self._call(fn, iter(reqs))
            if request is None:
                request = req_cls(**fields)
            if m.server_streaming:
                return self._stream(fn, request)
            return self._call(fn, request)
        call.__name__ = _snake(m.name)
        call.__doc__ = "%s.%s(%s) -> %s" % (
            m.containing_service.name, m.name, m.input_type.name,
            m.output_type.name)
        return call

    def _stream(self, fn, request):
        try:
            yield from fn(request, metadata=self._md, timeout=self._timeout)
        except grpc.RpcError as e:
            raise SnipwiseError(e.code(), e.details() or "") from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request):
        # A team moving between nodes refuses its writes for the cut-over
        # (TEAM_MOVING), and a node it left answers TEAM_MOVED: nothing of
        # the call was applied, so it is sent again after the server's
        # hint, until the client's timeout has passed. A client stream is
        # sent once: its requests may be a one-shot iterator.
        end = time.monotonic() + self._timeout
        while True:
            try:
                return method(request, metadata=self._md,
                              timeout=max(0.001, end - time.monotonic()))
            except grpc.RpcError as e:  # every RpcError raised here is a Call
                wait = _moving_retry_after(e)
                if (wait is None or isinstance(request, Iterator) or
                        time.monotonic() + wait >= end):
                    raise SnipwiseError(e.code(), e.details() or "") from None
                time.sleep(wait)

    # -- health --------------------------------------------------------------
    def health(self, service: str = "") -> int:
        """Returns the HealthCheckResponse.ServingStatus of `service`
        (1 is SERVING, 2 NOT_SERVING)."""
        return self._call(self._health_check, service)

    # -- admin (needs the admin key) -------------------------------------------
    def create_team(self, display_name: str) -> admin_pb2.CreateTeamResponse:
        return self._call(self.admin.CreateTeam,
                          admin_pb2.CreateTeamRequest(display_name=display_name))

    def get_team(self, team_id: str) -> common_pb2.Team:
        return self._call(self.admin.GetTeam, admin_pb2.GetTeamRequest(team_id=team_id))

    def list_teams(self, page_size: int = 0) -> Iterator[common_pb2.Team]:
        """Yields every team, following page tokens."""
        token = ""
        while True:
            page = self._call(self.admin.ListTeams, admin_pb2.ListTeamsRequest(
                page_size=page_size, page_token=token))
            yield from page.teams
            token = page.next_page_token
            if not token:
                return

    def delete_team(self, team_id: str) -> None:
        self._call(self.admin.DeleteTeam, admin_pb2.DeleteTeamRequest(team_id=team_id))

    def create_api_key(self, team_id: str, display_name: str = "",
                       admin: bool = False) -> admin_pb2.CreateApiKeyResponse:
        role = common_pb2.ROLE_ADMIN if admin else common_pb2.ROLE_TEAM
        return self._call(self.admin.CreateApiKey, admin_pb2.CreateApiKeyRequest(
            team_id="" if admin else team_id, display_name=display_name, role=role))

    def revoke_api_key(self, key_id: str) -> common_pb2.ApiKey:
        return self._call(self.admin.RevokeApiKey,
                          admin_pb2.RevokeApiKeyRequest(key_id=key_id))

    # -- team (needs a team key) ---------------------------------------------
    def get_my_team(self) -> common_pb2.Team:
        return self._call(self.team.GetMyTeam, team_pb2.GetMyTeamRequest())

    def add_member(self, email: str, display_name: str = "") -> team_pb2.TeamMember:
        return self._call(self.team.AddTeamMember, team_pb2.AddTeamMemberRequest(
            member=team_pb2.TeamMember(email=email, display_name=display_name)))

    def list_members(self) -> List[team_pb2.TeamMember]:
        out, token = [], ""
        while True:
            page = self._call(self.team.ListTeamMembers,
                              team_pb2.ListTeamMembersRequest(page_token=token))
            out.extend(page.members)
            token = page.next_page_token
            if not token:
                return out

    def add_domain(self, domain: str) -> team_pb2.TeamDomain:
        return self._call(self.team.AddTeamDomain,
                          team_pb2.AddTeamDomainRequest(domain=domain))

    def list_domains(self) -> List[team_pb2.TeamDomain]:
        out, token = [], ""
        while True:
            page = self._call(self.team.ListTeamDomains,
                              team_pb2.ListTeamDomainsRequest(page_token=token))
            out.extend(page.domains)
            token = page.next_page_token
            if not token:
                return out

    # -- ingest, outcomes, search, suggest -------------------------------------
    def ingest_email(self, raw_mime: bytes, direction: int = 0,
                     client_ref: str = "") -> ingest_pb2.IngestEmailResponse:
        return self._call(self.ingest.IngestEmail, ingest_pb2.IngestEmailRequest(
            raw_mime=raw_mime, direction=direction, client_ref=client_ref))

    def ingest_emails(self, raws: Iterable[bytes]) -> ingest_pb2.IngestEmailsResponse:
        """Streams many raw messages over the client-streaming RPC."""
        reqs = (ingest_pb2.IngestEmailRequest(raw_mime=r) for r in raws)
        return self._call(self.ingest.IngestEmails, reqs)

    def ingest_files(self, paths: Union[PathLike, Sequence[PathLike]],
                     direction: int = 0, suffixes: Sequence[str] = (".eml",)
                     ) -> ingest_pb2.IngestEmailsResponse:
        """Ingests .eml files (one RFC 5322 message each) over the
        IngestEmails stream, reading one file at a time as the stream
        goes, so a large folder is never in memory at once.

        paths: files (taken whatever their name) and directories (walked
        recursively, in sorted order, for files ending in one of
        `suffixes`, hidden ones skipped). Each message's client_ref is its
        path, so the response's per-item results (rejected messages and
        those with MIME defects) name the files; new_count,
        duplicate_count and rejected_count count them all. A path that
        does not exist raises FileNotFoundError before anything is sent."""
        files = _eml_files(paths, suffixes)

        def reqs() -> Iterator[ingest_pb2.IngestEmailRequest]:
            for f in files:
                with open(f, "rb") as fh:
                    raw = fh.read()
                yield ingest_pb2.IngestEmailRequest(
                    raw_mime=raw, direction=direction, client_ref=f)
        return self._call(self.ingest.IngestEmails, reqs())

    def record_outcome(self, request: Optional[outcome_pb2.RecordOutcomeRequest] = None,
                       **fields) -> outcome_pb2.RecordOutcomeResponse:
        """RecordOutcome: the request, or its fields as keywords."""
        return self._call(self.outcome.RecordOutcome, _req(
            outcome_pb2.RecordOutcomeRequest, request, fields))

    def record_feedback(self, request: Optional[outcome_pb2.RecordFeedbackRequest] = None,
                        **fields) -> outcome_pb2.RecordFeedbackResponse:
        """RecordFeedback: the request, or its fields as keywords
        (suggestion_id=..., item_id=..., kind=FEEDBACK_KIND_COPIED)."""
        return self._call(self.outcome.RecordFeedback, _req(
            outcome_pb2.RecordFeedbackRequest, request, fields))

    def search_snippets(self, request: Optional[snippet_pb2.SearchSnippetsRequest] = None,
                        **fields) -> snippet_pb2.SearchSnippetsResponse:
        """SearchSnippets: the request, or its fields as keywords."""
        return self._call(self.snippet.SearchSnippets, _req(
            snippet_pb2.SearchSnippetsRequest, request, fields))

    def read_content(self, content_id: str) -> "tuple[snippet_pb2.ContentFile, bytes]":
        """Reads a content item's file from the team's content library:
        (its description, its bytes). The bytes are checked against the
        size and SHA-256 the server announced; a mismatch raises
        SnipwiseError with code DATA_LOSS."""
        import hashlib
        f, parts = None, []
        try:
            for m in self.snippet.ReadContent(
                    snippet_pb2.ReadContentRequest(content_id=content_id),
                    metadata=self._md, timeout=self._timeout):
                if f is None:
                    f = m.file
                else:
                    parts.append(m.data)
        except grpc.RpcError as e:
            raise SnipwiseError(e.code(), e.details() or "") from None
        data = b"".join(parts)
        if f is None or len(data) != f.size_bytes or \
                hashlib.sha256(data).hexdigest() != f.sha256:
            raise SnipwiseError(grpc.StatusCode.DATA_LOSS,
                                "the file of %s arrived incomplete or "
                                "altered" % content_id)
        return f, data

    def suggest(self, request: Optional[suggest_pb2.SuggestRequest] = None,
                **fields) -> suggest_pb2.SuggestResponse:
        """Suggest: the request, or its fields as keywords, e.g.
        suggest(in_reply_to_message_id="<q1@x>", draft_text="Here is",
        recipients=["cfo@x.example"])."""
        return self._call(self.suggest_stub.Suggest, _req(
            suggest_pb2.SuggestRequest, request, fields))

    def get_model(self) -> ranking_pb2.Model:
        return self._call(self.ranking.GetModel, ranking_pb2.GetModelRequest())

    def run_rerank(self, force_promote: bool = False
                   ) -> Iterator[ranking_pb2.RerankProgress]:
        """Streams the re-ranking job's progress messages."""
        try:
            yield from self.ranking.RunRerank(
                ranking_pb2.RunRerankRequest(force_promote=force_promote),
                metadata=self._md, timeout=self._timeout)
        except grpc.RpcError as e:
            raise SnipwiseError(e.code(), e.details() or "") from None
