// Production: the same Env over the real OS; Control refuses faults clearly.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "marionette/world.hpp"

using namespace marionette;

TEST_CASE("Production roots the harness in a fresh real directory, removed afterwards") {
    std::string root;
    {
        Production production;
        Env env = production.env();
        root = env.root();
        CHECK_FALSE(env.simulated());
        CHECK(std::filesystem::is_directory(root));
        const int fd = ::open(env.path("f").c_str(), O_CREAT | O_RDWR, 0644);
        REQUIRE(fd >= 0);
        CHECK(fd < 512);  // a real descriptor
        CHECK(::write(fd, "abc", 3) == 3);
        CHECK(::fsync(fd) == 0);
        ::close(fd);
        CHECK(std::filesystem::file_size(env.path("f")) == 3);
        CHECK_FALSE(env.buggify("any", Rate::always()));
        env.recorder().record("app.event", {{"n", 1}});
        REQUIRE(production.trace().events().size() == 1);
        CHECK(production.trace().events()[0].name == "app.event");
    }
    CHECK_FALSE(std::filesystem::exists(root));
}

TEST_CASE("fault injection under Production says it is unavailable") {
    Production production;
    SimDiskControl disk = production.control().disk();
    CHECK_FALSE(production.control().available());
    CHECK_THROWS_AS(disk.crash(), Unavailable);
    CHECK_THROWS_AS(disk.restart(), Unavailable);
    CHECK_THROWS_AS(disk.set_faults({}), Unavailable);
    CHECK_THROWS_WITH(disk.corrupt_sector(production.env().path("f"), 0),
                      Catch::Contains("disk.corrupt_sector is unavailable in production"));
}
