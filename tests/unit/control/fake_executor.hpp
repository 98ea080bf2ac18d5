// A CommandExecutor that records what it was asked to do, for tests.
//
// Each call appends "<method> <canonical command text>" to `calls`, then
// answers with the reply queued for that method (default: ok with
// `method=<name>`), or throws when `throw_on` names the method — so tests
// can check routing, reply passing and exception containment.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "control/executor.hpp"

namespace marionette::test {

class RecordingExecutor : public CommandExecutor {
public:
    std::vector<std::string> calls;
    std::map<std::string, Reply> replies;
    std::string throw_on;

    Reply run(const Run& c) override { return record("run", c); }
    Reply schedule_at(const At& c) override { return record("schedule_at", c); }
    Reply schedule_after(const After& c) override { return record("schedule_after", c); }
    Reply crash_random(const CrashRandom& c) override { return record("crash_random", c); }
    Reply crash(const Crash& c) override { return record("crash", c); }
    Reply kill(const Kill& c) override { return record("kill", c); }
    Reply restart(const Restart& c) override { return record("restart", c); }
    Reply disk_set_faults(const DiskSetFaults& c) override { return record("disk_set_faults", c); }
    Reply disk_corrupt_sector(const DiskCorruptSector& c) override { return record("disk_corrupt_sector", c); }
    Reply net_partition(const NetPartition& c) override { return record("net_partition", c); }
    Reply net_heal(const NetHeal& c) override { return record("net_heal", c); }
    Reply net_set_options(const NetSetOptions& c) override { return record("net_set_options", c); }
    Reply net_clog(const NetClog& c) override { return record("net_clog", c); }
    Reply net_unclog(const NetUnclog& c) override { return record("net_unclog", c); }
    Reply net_force(const NetForce& c) override { return record("net_force", c); }
    Reply disk_force(const DiskForce& c) override { return record("disk_force", c); }
    Reply spawn(const Spawn& c) override { return record("spawn", c); }
    Reply expect_exit(const ExpectExit& c) override { return record("expect_exit", c); }
    Reply expect_output(const ExpectOutput& c) override { return record("expect_output", c); }
    Reply trace_read(const TraceRead& c) override { return record("trace_read", c); }
    Reply status(const Status& c) override { return record("status", c); }
    Reply quit(const Quit& c) override { return record("quit", c); }

private:
    template <class C>
    Reply record(const std::string& method, const C& command) {
        calls.push_back(method + " " + to_string(Command(command)));
        if (throw_on == method) throw std::runtime_error("boom in " + method);
        auto it = replies.find(method);
        if (it != replies.end()) return it->second;
        return Reply::success({{"method", method}});
    }
};

}  // namespace marionette::test
