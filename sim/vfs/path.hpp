// Path arithmetic for the simulated kernel's file layer.
//
// Programs name files by host paths (`./data/wal`, `/tmp/x`). The file layer
// turns them into absolute, lexically normalised host paths and then decides,
// by longest mount prefix, whether a path lives on a simulated disk or passes
// through to the real kernel. Normalisation is lexical (`a/../b` -> `b`) like
// the kernel's walk of `..` in a tree without symlinks; symlinks *inside* a
// simulated disk are resolved by the disk model itself.
#pragma once

#include <string>
#include <string_view>

namespace marionette {

/// Joins `path` onto the absolute directory `base` (unless `path` is already
/// absolute) and normalises: collapses `//` and `.`, resolves `..` lexically
/// (never above `/`). A trailing slash is dropped. Always returns an absolute
/// path.
std::string normalize_path(std::string_view base, std::string_view path);

/// True if `path` equals `prefix` or lies below it (`/a/b` is under `/a`,
/// `/ab` is not). Both must be normalised.
bool path_is_under(std::string_view path, std::string_view prefix);

/// `path` rebased from `from_prefix` onto `to_prefix`; `path` must be under
/// `from_prefix`.
std::string rebase_path(std::string_view path, std::string_view from_prefix, std::string_view to_prefix);

}  // namespace marionette
