#include "launcher/shard.hpp"

#include <charconv>
#include <stdexcept>

namespace marionette {
namespace {

// More shards than this is surely a typo; it also keeps (K-1)*M in 64 bits
// for the largest seed range (10 million seeds).
constexpr std::uint64_t max_shards = 1'000'000'000;

std::optional<std::uint64_t> parse_count(std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

/// A variable that must hold a non-negative integer.
std::uint64_t env_number(const EnvLookup& env, const char* name) {
    const char* text = env(name);
    if (text == nullptr) throw std::invalid_argument(std::string("--shard env: ") + name + " is not set");
    const std::optional<std::uint64_t> value = parse_count(text);
    if (!value) {
        throw std::invalid_argument(std::string("--shard env: ") + name + "='" + text + "' is not a non-negative integer");
    }
    return *value;
}

Shard checked(std::uint64_t index, std::uint64_t count, const std::string& where) {
    if (count == 0 || count > max_shards) {
        throw std::invalid_argument(where + ": the number of shards must be between 1 and " + std::to_string(max_shards));
    }
    if (index == 0 || index > count) {
        throw std::invalid_argument(where + ": shard " + std::to_string(index) + " of " + std::to_string(count) +
                                    " does not exist (shards are numbered 1.." + std::to_string(count) + ")");
    }
    return Shard{index, count};
}

Shard from_slurm(const EnvLookup& env) {
    const std::uint64_t id = env_number(env, "SLURM_ARRAY_TASK_ID");
    const std::uint64_t min = env("SLURM_ARRAY_TASK_MIN") != nullptr ? env_number(env, "SLURM_ARRAY_TASK_MIN") : 0;
    const std::uint64_t step = env("SLURM_ARRAY_TASK_STEP") != nullptr ? env_number(env, "SLURM_ARRAY_TASK_STEP") : 1;
    if (step == 0) throw std::invalid_argument("--shard env: SLURM_ARRAY_TASK_STEP is 0");
    std::uint64_t count = 0;
    if (env("SLURM_ARRAY_TASK_COUNT") != nullptr) {
        count = env_number(env, "SLURM_ARRAY_TASK_COUNT");
    } else if (env("SLURM_ARRAY_TASK_MAX") != nullptr) {
        const std::uint64_t max = env_number(env, "SLURM_ARRAY_TASK_MAX");
        if (max < min) throw std::invalid_argument("--shard env: SLURM_ARRAY_TASK_MAX is below SLURM_ARRAY_TASK_MIN");
        count = (max - min) / step + 1;
    } else {
        throw std::invalid_argument(
            "--shard env: SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is");
    }
    if (id < min || (id - min) % step != 0) {
        throw std::invalid_argument("--shard env: SLURM_ARRAY_TASK_ID=" + std::to_string(id) +
                                    " is not in the array (an array of shards must be A-B or A-B:STEP)");
    }
    return checked((id - min) / step + 1, count, "--shard env (Slurm array)");
}

Shard from_indexed_job(const EnvLookup& env, std::optional<std::uint64_t> count_flag) {
    const std::uint64_t index = env_number(env, "JOB_COMPLETION_INDEX");
    std::uint64_t count = 0;
    if (count_flag) {
        count = *count_flag;
    } else if (env("MARIONETTE_SHARD_COUNT") != nullptr) {
        count = env_number(env, "MARIONETTE_SHARD_COUNT");
    } else {
        throw std::invalid_argument(
            "--shard env: JOB_COMPLETION_INDEX is set but the number of shards is not: pass --shard-count N or set "
            "MARIONETTE_SHARD_COUNT (the Job's completions)");
    }
    return checked(index + 1, count, "--shard env (Kubernetes Indexed Job)");
}

}  // namespace

std::string Shard::text() const { return std::to_string(index) + "/" + std::to_string(count); }

Shard parse_shard(std::string_view text) {
    const std::size_t slash = text.find('/');
    const std::string quoted = "invalid --shard '" + std::string(text) + "'";
    if (slash == std::string_view::npos) {
        throw std::invalid_argument(quoted + " (expected K/N, e.g. 2/8, or env)");
    }
    const std::optional<std::uint64_t> index = parse_count(text.substr(0, slash));
    const std::optional<std::uint64_t> count = parse_count(text.substr(slash + 1));
    if (!index || !count) throw std::invalid_argument(quoted + " (expected K/N with K and N whole numbers, e.g. 2/8)");
    return checked(*index, *count, quoted);
}

Shard shard_from_env(const EnvLookup& env, std::optional<std::uint64_t> count_flag) {
    if (const char* text = env("MARIONETTE_SHARD"); text != nullptr) {
        try {
            return parse_shard(text);
        } catch (const std::invalid_argument& e) {
            throw std::invalid_argument(std::string("--shard env: MARIONETTE_SHARD: ") + e.what());
        }
    }
    if (env("SLURM_ARRAY_TASK_ID") != nullptr) return from_slurm(env);
    if (env("JOB_COMPLETION_INDEX") != nullptr) return from_indexed_job(env, count_flag);
    if (env("CI_NODE_INDEX") != nullptr) {
        return checked(env_number(env, "CI_NODE_INDEX"), env_number(env, "CI_NODE_TOTAL"), "--shard env (GitLab CI)");
    }
    throw std::invalid_argument(
        "--shard env: no shard in the environment: set MARIONETTE_SHARD=K/N, or run as a Slurm array task "
        "(SLURM_ARRAY_TASK_ID), a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) or a GitLab parallel job "
        "(CI_NODE_INDEX, CI_NODE_TOTAL)");
}

std::vector<std::uint64_t> shard_slice(const std::vector<std::uint64_t>& seeds, const Shard& shard) {
    const std::uint64_t m = seeds.size();
    const std::uint64_t begin = (shard.index - 1) * m / shard.count;
    const std::uint64_t end = shard.index * m / shard.count;
    return {seeds.begin() + static_cast<std::ptrdiff_t>(begin), seeds.begin() + static_cast<std::ptrdiff_t>(end)};
}

}  // namespace marionette
