"""A thin, typed wrapper over the generated snipwise.v1 stubs.

Every method sends the API key as `authorization: Bearer <key>`, applies the
client's timeout, and turns a gRPC error into `SnipwiseError` with the status
code name and the server's message.
"""
from __future__ import annotations

from typing import Iterable, Iterator, List, Optional

import importlib
import os
import re

import grpc

from grpc_health.v1 import health_pb2, health_pb2_grpc
from snipwise.v1 import (admin_pb2, admin_pb2_grpc, common_pb2, ingest_pb2,
                         ingest_pb2_grpc, outcome_pb2, outcome_pb2_grpc,
                         ranking_pb2, ranking_pb2_grpc, snippet_pb2,
                         snippet_pb2_grpc, suggest_pb2, suggest_pb2_grpc,
                         team_pb2, team_pb2_grpc)


def _snake(name: str) -> str:
    """ListThreads -> list_threads."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class SnipwiseError(Exception):
    """A call failed: `code` is the grpc.StatusCode, `message` the reason."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__("%s: %s" % (code.name, message))
        self.code = code
        self.message = message


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
        self.health_stub = health_pb2_grpc.HealthStub(self._channel)
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
        try:
            return method(request, metadata=self._md, timeout=self._timeout)
        except grpc.RpcError as e:  # every RpcError raised here is a Call
            raise SnipwiseError(e.code(), e.details() or "") from None

    # -- health --------------------------------------------------------------
    def health(self, service: str = "") -> int:
        """Returns the HealthCheckResponse.ServingStatus of `service`."""
        return self._call(self.health_stub.Check,
                          health_pb2.HealthCheckRequest(service=service)).status

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

    def record_outcome(self, request: outcome_pb2.RecordOutcomeRequest
                       ) -> outcome_pb2.RecordOutcomeResponse:
        return self._call(self.outcome.RecordOutcome, request)

    def record_feedback(self, request: outcome_pb2.RecordFeedbackRequest
                        ) -> outcome_pb2.RecordFeedbackResponse:
        return self._call(self.outcome.RecordFeedback, request)

    def search_snippets(self, request: snippet_pb2.SearchSnippetsRequest
                        ) -> snippet_pb2.SearchSnippetsResponse:
        return self._call(self.snippet.SearchSnippets, request)

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

    def suggest(self, request: suggest_pb2.SuggestRequest) -> suggest_pb2.SuggestResponse:
        return self._call(self.suggest_stub.Suggest, request)

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
