/* ctl_cluster: `snipctl cluster ...`, the operator's view of several snipd
 * nodes behind HAProxy (docs/SCALING.md):
 *   cluster haproxy-config           the HAProxy configuration to run
 *   cluster create-team NAME [--node N]
 *                                    a team on a node (the node with the
 *                                    fewest teams when N is not given),
 *                                    routed to it at once
 *   cluster list-teams               every node's teams, and where the
 *                                    routing map sends each
 *   cluster route TEAM_ID NODE       point a team's route at a node
 *   cluster move-team TEAM_ID --to NODE [--batch-bytes N]
 *                                    move a team (TeamMoveService: freeze,
 *                                    export relayed into import, route,
 *                                    finish); run again after a crash
 * each with --json, and --cluster FILE (else $SNIPWISE_CLUSTER): a JSON
 * file naming the nodes, their admin key files, HAProxy's listening
 * address, its runtime API socket and its map file:
 *   {"listen": "127.0.0.1:8443",
 *    "haproxy": {"socket": "/run/haproxy/snipwise.sock",
 *                "map": "/etc/haproxy/snipwise-teams.map"},
 *    "nodes": [{"name": "node1", "addr": "10.0.0.1:7443",
 *               "admin_key_file": "/etc/snipwise/node1.key"}, ...]}
 * The first node is the default route: keys without a team prefix (the
 * admin keys, and team keys made before routing) go there.
 *
 * There is no directory node: team-spanning admin calls are fanned out
 * here, to every node's own admin API. The routing map is the one piece
 * of global state; snipctl keeps the map file (rewritten whole, under a
 * lock, renamed into place) and HAProxy's loaded copy (its runtime API)
 * in step, file first, so a restarted HAProxy routes as the running one
 * did. */
#ifndef CTL_CLUSTER_H
#define CTL_CLUSTER_H

/* ctl_cluster_wanted returns 1 when argv's first command word is
 * "cluster". */
int ctl_cluster_wanted(int argc, char **argv);

/* ctl_cluster_main runs the command and returns the exit code
 * (ctl_exit.h). */
int ctl_cluster_main(int argc, char **argv);

#endif
