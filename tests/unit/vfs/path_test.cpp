#include <catch2/catch.hpp>

#include "sim/vfs/path.hpp"

using namespace marionette;

TEST_CASE("normalize_path makes paths absolute and lexical", "[vfs][path]") {
    CHECK(normalize_path("/home/u", "data/wal") == "/home/u/data/wal");
    CHECK(normalize_path("/home/u", "./data//wal/") == "/home/u/data/wal");
    CHECK(normalize_path("/home/u", "../v/x") == "/home/v/x");
    CHECK(normalize_path("/home/u", "/etc/../tmp/./a") == "/tmp/a");
    CHECK(normalize_path("/", "../../..") == "/");
    CHECK(normalize_path("/a", "") == "/a");
    CHECK(normalize_path("/", "/") == "/");
}

TEST_CASE("path_is_under respects component boundaries", "[vfs][path]") {
    CHECK(path_is_under("/a/b", "/a"));
    CHECK(path_is_under("/a", "/a"));
    CHECK_FALSE(path_is_under("/ab", "/a"));
    CHECK_FALSE(path_is_under("/a", "/a/b"));
    CHECK(path_is_under("/anything", "/"));
}

TEST_CASE("rebase_path moves a path between prefixes", "[vfs][path]") {
    CHECK(rebase_path("/home/u/data/wal", "/home/u/data", "/data") == "/data/wal");
    CHECK(rebase_path("/home/u/data", "/home/u/data", "/data") == "/data");
    CHECK(rebase_path("/tmp/x", "/tmp", "/") == "/x");
    CHECK(rebase_path("/x", "/", "/root") == "/root/x");
}
