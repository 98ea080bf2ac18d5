// Recorder: the narrow handle application code takes to put its own events
// into the run's trace.
//
// Code under test should not depend on the whole Env; a storage engine that
// wants `wal.append key=3 sync=true` in the trace accepts a Recorder. In a
// simulation the events land in the run's trace between the disk and
// network events they caused (and so count towards the determinism check);
// under Production they land in the production trace, so a parity test can
// compare the application's own events on both; a default-constructed
// Recorder drops everything.
#pragma once

#include <initializer_list>
#include <string_view>
#include <vector>

#include "sim/trace.hpp"

namespace marionette {

namespace detail {
/// Where a Recorder's events go (a simulation or Production).
class RecordSink {
public:
    virtual void record(std::string_view name, std::vector<TraceField> fields) = 0;

protected:
    ~RecordSink() = default;
};
}  // namespace detail

/// A copyable handle that records application events.
class Recorder {
public:
    /// A recorder that records nothing.
    Recorder() = default;
    explicit Recorder(detail::RecordSink* sink) : sink_(sink) {}

    /// Records `name` (`component.action`) with `fields`. Throws TraceError
    /// if the name or a key is malformed.
    void record(std::string_view name, std::initializer_list<TraceField> fields = {}) const {
        if (sink_ != nullptr) sink_->record(name, std::vector<TraceField>(fields));
    }
    void record(std::string_view name, std::vector<TraceField> fields) const {
        if (sink_ != nullptr) sink_->record(name, std::move(fields));
    }
    /// False for a default-constructed recorder.
    bool enabled() const { return sink_ != nullptr; }

private:
    detail::RecordSink* sink_ = nullptr;
};

}  // namespace marionette
