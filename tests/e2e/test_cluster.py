"""Teams spread over three snipd nodes behind HAProxy (issue 22).

HAProxy routes each call by the team id in front of its API key
("team_<16 hex>.sk_..."), through a map file that `snipctl cluster` keeps
in step with HAProxy's runtime API; keys without a prefix (admin keys, old
team keys) take the first node. HAProxy's health checks are real
grpc.health.v1 calls."""

import json

import grpc
import pytest

from cluster_lib import Cluster
from e2e_lib import Client, auth_md, expect_error
from ingest_lib import Mail
from snipwise.v1 import admin_pb2, ingest_pb2, ingest_pb2_grpc, team_pb2

C = grpc.StatusCode
NTEAMS = 30


@pytest.fixture
def cluster(snipd_factory):
    c = Cluster(snipd_factory, 3)
    yield c
    c.stop()


def mime(team_id, i):
    return ("From: Rep <rep@%s.example>\r\nTo: Buyer <buyer@buyer.example>\r\n"
            "Subject: Pricing for %s\r\nMessage-ID: <m%d.%s@cluster.test>\r\n"
            "Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n\r\n"
            "Attached is our pricing sheet for team %s.\r\n" %
            (team_id, team_id, i, team_id, team_id)).encode()


class Routed:
    """IngestService and TeamService through HAProxy with one key."""

    def __init__(self, channel, key):
        self.client = Client(channel, key)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        self.md = auth_md(key)

    def my_team(self):
        return self.client.team.GetMyTeam(team_pb2.GetMyTeamRequest())

    def ingest_raw(self, data):
        return self.ingest.IngestEmail(
            ingest_pb2.IngestEmailRequest(raw_mime=data), metadata=self.md,
            timeout=30)

    def get_email(self, message_id):
        return self.ingest.GetEmail(
            ingest_pb2.GetEmailRequest(message_id=message_id),
            metadata=self.md, timeout=30)


def make_teams(cluster, n):
    """n teams through `snipctl cluster create-team`: {team_id: (key, node)}."""
    teams = {}
    for i in range(n):
        r = cluster.snipctl("create-team", "Team %02d" % i, "--json")
        out = json.loads(r.stdout)
        teams[out["team_id"]] = (out["api_key"], out["node"])
    return teams


def test_thirty_teams_each_reached_on_its_own_node(cluster):
    teams = make_teams(cluster, NTEAMS)
    # Placed on the node with the fewest teams: ten each.
    per_node = {}
    for _, node in teams.values():
        per_node[node] = per_node.get(node, 0) + 1
    assert per_node == {"node1": 10, "node2": 10, "node3": 10}, per_node
    assert cluster.routes() == {t: n for t, (_, n) in teams.items()}
    # Every node's own admin API lists exactly its teams.
    for name, node in cluster.nodes.items():
        listed = node.admin().admin.ListTeams(
            admin_pb2.ListTeamsRequest(page_size=100)).teams
        assert sorted(t.team_id for t in listed) == sorted(
            t for t, (_, n) in teams.items() if n == name)
    listing = json.loads(cluster.snipctl("list-teams", "--json").stdout)
    assert listing["misrouted"] == 0
    assert {t["team_id"]: t["node"] for t in listing["teams"]} == {
        t: n for t, (_, n) in teams.items()}

    ch = cluster.channel()
    for i, (team_id, (key, node)) in enumerate(sorted(teams.items())):
        assert key.startswith(team_id + ".sk_")
        r = Routed(ch, key)
        assert r.my_team().team_id == team_id
        got = r.ingest_raw(mime(team_id, i))
        assert got.email_id
        mid = "<m%d.%s@cluster.test>" % (i, team_id)
        assert r.get_email(mid).email_id == got.email_id
        # The mail is on the team's node, and on no other.
        for name, s in cluster.nodes.items():
            direct = Mail(s, key)
            if name == node:
                assert direct.get_email(message_id=mid).email_id == \
                    got.email_id
            else:
                expect_error(C.UNAUTHENTICATED, direct.get_email,
                             message_id=mid)


def test_a_key_never_reaches_another_teams_data(cluster):
    teams = make_teams(cluster, 6)
    ch = cluster.channel()
    ids = sorted(teams)
    for i, t in enumerate(ids):
        Routed(ch, teams[t][0]).ingest_raw(mime(t, i))
    for i, a in enumerate(ids):
        key_a, node_a = teams[a]
        secret = key_a.split(".", 1)[1]
        for j, b in enumerate(ids):
            if a == b:
                continue
            # A's secret behind B's prefix is routed to B's node and
            # refused there, whichever node that is.
            forged = Routed(ch, b + "." + secret)
            expect_error(C.UNAUTHENTICATED, forged.my_team)
            expect_error(C.UNAUTHENTICATED, forged.get_email,
                         "<m%d.%s@cluster.test>" % (j, b))
            # A's own key asks for B's mail: not found, on any node.
            expect_error(C.NOT_FOUND, Routed(ch, key_a).get_email,
                         "<m%d.%s@cluster.test>" % (j, b))
        # The bare secret (a key made before routing) takes the default
        # route, the first node: it works exactly when A lives there.
        bare = Routed(ch, secret)
        if node_a == "node1":
            assert bare.my_team().team_id == a
        else:
            expect_error(C.UNAUTHENTICATED, bare.my_team)


def test_admin_keys_take_the_first_node_and_routes_move_at_once(cluster):
    teams = make_teams(cluster, 3)
    ch = cluster.channel()
    admin1 = Client(ch, cluster.nodes["node1"].admin_key)
    listed = admin1.admin.ListTeams(admin_pb2.ListTeamsRequest()).teams
    assert [t.team_id for t in listed] == [
        t for t, (_, n) in teams.items() if n == "node1"]
    # Another node's admin key is unknown on the first node.
    expect_error(C.UNAUTHENTICATED,
                 Client(ch, cluster.nodes["node2"].admin_key).admin.ListTeams,
                 admin_pb2.ListTeamsRequest())
    # Pointing a team's route at the wrong node takes effect at once
    # (runtime API, no reload) and list-teams reports it; pointing it
    # back restores the team.
    team, (key, node) = next(
        (t, v) for t, v in teams.items() if v[1] == "node2")
    cluster.snipctl("route", team, "node3")
    assert cluster.routes()[team] == "node3"
    expect_error(C.UNAUTHENTICATED, Routed(ch, key).my_team)
    r = cluster.snipctl("list-teams", "--json", check=False)
    assert json.loads(r.stdout)["misrouted"] == 1
    assert "route does not name" in r.stderr
    cluster.snipctl("route", team, "node2")
    assert Routed(ch, key).my_team().team_id == team
    # A node that does not exist is refused, and nothing changes.
    r = cluster.snipctl("route", team, "node9", check=False)
    assert r.returncode == 2 and "no node named 'node9'" in r.stderr
    assert cluster.routes()[team] == "node2"


def test_health_checks_take_a_stopped_node_out_and_back(cluster):
    teams = make_teams(cluster, 3)
    ch = cluster.channel()
    by_node = {n: (t, k) for t, (k, n) in teams.items()}
    node2 = cluster.nodes["node2"]
    node2.stop()
    cluster.haproxy.wait_servers({"node1": True, "node2": False,
                                  "node3": True})
    expect_error(C.UNAVAILABLE, Routed(ch, by_node["node2"][1]).my_team,
                 details=False)
    for n in ("node1", "node3"):
        t, k = by_node[n]
        assert Routed(ch, k).my_team().team_id == t
    node2.start()  # the same port (--listen)
    cluster.haproxy.wait_servers({"node2": True})
    t, k = by_node["node2"]
    assert Routed(ch, k).my_team().team_id == t
