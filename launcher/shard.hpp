// Shards of a seed sweep: one sweep split over many machines.
//
// `--shard K/N` runs the K-th of N disjoint slices of the `--seeds` range.
// The split depends only on the range, K and N, so every machine computes
// the same slices and every seed falls in exactly one shard: the range's M
// seeds, in order, are cut into N contiguous blocks, block K (1-based)
// holding the seeds at positions floor((K-1)*M/N) up to floor(K*M/N) - 1.
// Block sizes differ by at most one; with N > M some shards are empty.
//
// `--shard env` reads K and N from the batch system that started the
// process (Slurm job arrays, Kubernetes Indexed Jobs, CI matrices), so one
// command line serves every task of an array (docs/scale-out.md).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace marionette {

/// Shard `index` (1-based) of `count`.
struct Shard {
    std::uint64_t index = 1;
    std::uint64_t count = 1;
    /// `K/N` as the user writes it.
    std::string text() const;
};

/// Parses `K/N` (1 <= K <= N). Throws std::invalid_argument naming the text
/// and what is wrong.
Shard parse_shard(std::string_view text);

/// Reads an environment variable; nullptr when unset (getenv's contract).
using EnvLookup = std::function<const char*(const char*)>;

/// The shard of `--shard env`, from the first of these that is set:
///  1. MARIONETTE_SHARD=K/N (any CI matrix; explicit, so it wins);
///  2. Slurm job arrays: SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_MIN
///     (default 0) and SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MAX
///     (and SLURM_ARRAY_TASK_STEP, default 1): K = (ID - MIN) / STEP + 1;
///  3. Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX (0-based) with N from
///     `count_flag` (--shard-count) or MARIONETTE_SHARD_COUNT;
///  4. GitLab CI `parallel:`: CI_NODE_INDEX (1-based) and CI_NODE_TOTAL.
/// Throws std::invalid_argument naming the variables when none is set, or
/// a variable is malformed or out of range.
Shard shard_from_env(const EnvLookup& env, std::optional<std::uint64_t> count_flag);

/// The seeds of `shard` in `seeds` (contiguous block, order kept).
std::vector<std::uint64_t> shard_slice(const std::vector<std::uint64_t>& seeds, const Shard& shard);

}  // namespace marionette
