// Cluster runs: several nodes, each running an unmodified program, on one
// simulated network under one scheduler and one clock.
//
//   marionette-launch --seed 7 --node server='./echo_server 7000'
//                     --node client='./echo_client server 7000 5'
//
// Every node gets a name (its hostname, resolvable by the others), an
// address 10.0.0.N (N = position, from 1), its own simulated disk and TMPDIR,
// its own pid space and random streams. Their AF_INET sockets are simulated
// (interpose/sockets.cpp, coordinator/socket_relay.hpp): traffic crosses the
// network model, never the real network. Without --scenario the run ends
// when the client node's program ends (the last --node, or --client NAME);
// the other nodes are then ended, and the client's exit status is the
// verdict. With --scenario the control language drives the cluster
// (partitions, latency, crashes and restarts by node name, spawn on a node).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "launcher/program_run.hpp"

namespace marionette {

/// One `--node NAME=COMMAND` (COMMAND split into words with quoting as in
/// the control language: '...', "...", backslash; no expansions).
struct ClusterNodeSpec {
    std::string name;
    std::vector<std::string> argv;
};

/// Parses `NAME=COMMAND`; throws std::invalid_argument naming what is wrong
/// (an empty or malformed name, no command).
ClusterNodeSpec parse_node_spec(std::string_view text);

/// Runs `options.nodes` (with --scenario/--control if given); returns the
/// launcher's exit code. Throws std::invalid_argument on usage errors.
int run_cluster_command(const RunCommandOptions& options);

}  // namespace marionette
