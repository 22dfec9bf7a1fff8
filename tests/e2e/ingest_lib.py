"""Helpers of the ingest end-to-end tests: where the shared corpus is, the
messages in it (mbox files split the way snipctl splits them), and stubs
of IngestService and SnippetService bound to one key."""

import os

import pytest
from snipwise.v1 import ingest_pb2, ingest_pb2_grpc, snippet_pb2_grpc

from e2e_lib import RPC_TIMEOUT, auth_md

STREAM_TIMEOUT = 300.0


def corpus_dir(sub="emails"):
    """The corpus directory: Bazel runfiles, else the shared checkout."""
    cands = []
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        cands += [os.path.join(srcdir, "corpus", sub),
                  os.path.join(srcdir, "snipwise", "external", "corpus", sub)]
    here = os.path.dirname(os.path.abspath(__file__))
    cands.append(os.path.join(here, "..", "..", "..", "shared", "corpus", sub))
    for c in cands:
        if os.path.isdir(c):
            return os.path.realpath(c)
    pytest.fail("corpus not found in %s" % cands)


def split_mbox(data):
    """Splits mbox bytes on "From " lines; ">From " loses one '>'."""
    msgs, cur, started = [], [], False
    for line in data.splitlines(keepends=True):
        if line.startswith(b"From "):
            if started and cur:
                msgs.append(b"".join(cur))
            cur, started = [], True
            continue
        stripped = line.lstrip(b">")
        if len(stripped) < len(line) and stripped.startswith(b"From "):
            line = line[1:]
        cur.append(line)
    if started and cur:
        msgs.append(b"".join(cur))
    return msgs


def corpus_messages():
    """[(client_ref, bytes)] for every file of the emails corpus, in path
    order, mbox files split into their messages."""
    root = corpus_dir()
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = os.path.join(d, name)
            rel = os.path.relpath(path, root)
            with open(path, "rb") as f:
                data = f.read()
            if data.startswith(b"From "):
                for i, m in enumerate(split_mbox(data)):
                    out.append(("%s#%d" % (rel, i + 1), m))
            else:
                out.append((rel, data))
    return out


class Mail:
    """IngestService and SnippetService stubs bound to one team key."""

    def __init__(self, snipd, key):
        ch = snipd.channel()
        self.md = auth_md(key)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(ch)
        self.snippet = snippet_pb2_grpc.SnippetServiceStub(ch)

    def call(self, stub, name, req, timeout=RPC_TIMEOUT):
        return getattr(stub, name)(req, metadata=self.md, timeout=timeout)

    def raw(self, data, direction=0, ref=""):
        return self.call(self.ingest, "IngestEmail",
                         ingest_pb2.IngestEmailRequest(raw_mime=data,
                                                       direction=direction,
                                                       client_ref=ref))

    def parsed(self, direction=0, **fields):
        atts = fields.pop("attachments", [])
        pe = ingest_pb2.ParsedEmail(**fields)
        for a in atts:
            pe.attachments.append(ingest_pb2.Attachment(**a))
        return self.call(self.ingest, "IngestEmail",
                         ingest_pb2.IngestEmailRequest(parsed=pe,
                                                       direction=direction))

    def stream(self, messages):
        """IngestEmails over [(ref, bytes)]."""
        reqs = (ingest_pb2.IngestEmailRequest(raw_mime=data, client_ref=ref)
                for ref, data in messages)
        return self.ingest.IngestEmails(reqs, metadata=self.md,
                                        timeout=STREAM_TIMEOUT)

    def get_email(self, email_id=None, message_id=None):
        req = (ingest_pb2.GetEmailRequest(email_id=email_id)
               if email_id is not None else
               ingest_pb2.GetEmailRequest(message_id=message_id))
        return self.call(self.ingest, "GetEmail", req)

    def get_thread(self, thread_id, include_emails=True):
        return self.call(self.ingest, "GetThread",
                         ingest_pb2.GetThreadRequest(
                             thread_id=thread_id,
                             include_emails=include_emails))
