#include "sim/vfs/path.hpp"

#include <vector>

namespace marionette {

std::string normalize_path(std::string_view base, std::string_view path) {
    std::vector<std::string_view> parts;
    auto walk = [&parts](std::string_view p) {
        std::size_t start = 0;
        while (start <= p.size()) {
            const std::size_t slash = p.find('/', start);
            const std::size_t end = slash == std::string_view::npos ? p.size() : slash;
            const std::string_view part = p.substr(start, end - start);
            if (part == "..") {
                if (!parts.empty()) parts.pop_back();
            } else if (!part.empty() && part != ".") {
                parts.push_back(part);
            }
            if (slash == std::string_view::npos) break;
            start = slash + 1;
        }
    };
    if (path.empty() || path.front() != '/') walk(base);
    walk(path);
    std::string out;
    for (std::string_view part : parts) {
        out += '/';
        out += part;
    }
    return out.empty() ? "/" : out;
}

bool path_is_under(std::string_view path, std::string_view prefix) {
    if (prefix == "/") return true;
    if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
    return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::string rebase_path(std::string_view path, std::string_view from_prefix, std::string_view to_prefix) {
    std::string_view rest = from_prefix == "/" ? path : path.substr(from_prefix.size());
    if (rest.empty() || rest == "/") return std::string(to_prefix);
    if (to_prefix == "/") return std::string(rest);
    return std::string(to_prefix) + std::string(rest);
}

}  // namespace marionette
