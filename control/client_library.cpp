// libmarionette_control: the C++ control client (include/marionette/control.hpp)
// as an installed shared library. Its code is the marionette_control archive
// and the simulator archives the control language's parser checks option
// names against, linked in whole (control/CMakeLists.txt); this file only
// gives the library a source of its own and a version a program can print.
#include "marionette/control.hpp"

namespace marionette {

/// The version of the installed control client library.
extern "C" const char* marionette_control_version() { return MARIONETTE_VERSION; }

}  // namespace marionette
