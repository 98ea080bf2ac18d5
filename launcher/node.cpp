#include "launcher/node.hpp"

#include <filesystem>

#include "sim/disk/disk_options.hpp"

namespace marionette {

MountSpec data_mount(const std::string& dir_text) {
    const std::filesystem::path dir = std::filesystem::absolute(dir_text).lexically_normal();
    std::string host = dir.string();
    while (host.size() > 1 && host.back() == '/') host.pop_back();
    MountSpec data{host, "/data"};
    if (std::filesystem::is_directory(dir)) data.import_from = dir;
    return data;
}

SimulatedNode::SimulatedNode(const RunCommandOptions& options, std::uint64_t seed, Ns start_ns) : start_ns_(start_ns) {
    CoordinatorOptions config;
    config.seed = seed;
    config.start_ns = start_ns;
    for (const auto& [key, value] : options.disk_options) set_disk_option(config.disk, key, value);
    // The program's temporary files (TMPDIR) live on the simulated disk.
    // Not all of /tmp: programs, scripts and checkouts often live there (a
    // CI clone, say), and a simulated /tmp would hide them.
    config.mounts = {MountSpec{std::string(simulated_tmpdir), "/tmp"}};
    if (!options.disk_dir.empty()) config.mounts.insert(config.mounts.begin(), data_mount(options.disk_dir));
    // Everything else: a copy-on-write view of the host on the same disk,
    // so the run never writes the real file system (docs/disk-model.md).
    config.host_view = true;
    config.real_paths = options.real_paths;
    prefixes_ = shim_mount_lines(config);
    // The node's events share the shim's clock: virtual ns since the start.
    trace_.set_clock([this] { return coordinator_ ? coordinator_->clock().now_ns() - start_ns_ : 0; });
    coordinator_ = std::make_unique<Coordinator>(config, trace_);
}

std::vector<TraceEvent> SimulatedNode::take_events() { return trace_.take_events(); }

ProgramRunOptions SimulatedNode::on_node(ProgramRunOptions run) {
    run.coordinator = coordinator_.get();
    run.mount_prefixes = prefixes_;
    run.start_elapsed_ns = coordinator_->clock().now_ns() - start_ns_;
    run.process_env.emplace_back("TMPDIR", std::string(simulated_tmpdir));
    return run;
}

ProgramRunResult SimulatedNode::run(ProgramRunOptions run) {
    ProgramRunResult result = run_program(on_node(std::move(run)));
    result.node_events = take_events();
    return result;
}

std::string SimulatedNode::disk_path(const std::string& host_path) const {
    const Route route = coordinator_->files().route(
        std::filesystem::absolute(host_path).lexically_normal().string());
    return route.simulated() ? route.disk_path : std::string();
}

}  // namespace marionette
