// A stand-in for `marionette-launch --control SOCKET` in client tests: serves
// a recording executor on the socket until `quit`, then exits with the
// number of commands it executed (so the test sees they arrived).
#include <cstring>
#include <iostream>

#include "control/socket.hpp"
#include "fake_executor.hpp"

int main(int argc, char** argv) {
    if (argc != 3 || std::strcmp(argv[1], "--control") != 0) {
        std::cerr << "usage: control_fake_launcher --control SOCKET\n";
        return 2;
    }
    marionette::test::RecordingExecutor executor;
    marionette::ControlServer server(argv[2]);
    server.serve(executor);
    return static_cast<int>(executor.calls.size());
}
