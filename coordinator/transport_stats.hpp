// How the processes' messages reached the coordinator (the channel, the
// sockets) and what the shim did with the calls it intercepted: the
// `--summary` block that shows where a run's time goes. Never part of the
// trace: how a message travels depends on timing, not on the program.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace marionette {

/// How the processes' messages travelled, for `--summary` (never traced:
/// it depends on timing, not on what the programs did).
struct TransportStats {
    std::uint64_t through_channel = 0;   ///< requests taken from channels
    std::uint64_t caught_spinning = 0;   ///< of those, found while the scheduler spun
    std::uint64_t over_socket = 0;       ///< messages read from sockets (doorbells aside)
    std::uint64_t doorbells = 0;
    struct Calls {
        std::uint64_t calls = 0;        ///< intercepted by the shim
        std::uint64_t forwarded = 0;    ///< of those, needing a round trip to us
        std::uint64_t over_socket = 0;  ///< of those, over the socket
    };
    /// By syscall number, summed over every process image that ended.
    std::map<long, Calls> calls;

    /// The `--summary` block.
    std::string format() const;
};

}  // namespace marionette
