// Random well-formed commands for property tests and the parser fuzz test.
//
// Draws every command kind with random (but valid) arguments, including
// awkward strings (spaces, quotes, backslashes, '#', '=', UTF-8) wherever the
// language allows free text, so that printing and re-parsing is exercised on
// the quoting rules, not only on plain words.
#pragma once

#include "control/command.hpp"
#include "sim/random.hpp"

namespace marionette::test {

/// A random command of any kind.
Command random_command(Prng& prng);

/// A random schedulable action.
Action random_action(Prng& prng);

/// A random string of 1..max_bytes bytes from a mix of plain and awkward
/// characters (no control bytes, valid UTF-8).
std::string random_text(Prng& prng, std::size_t max_bytes);

}  // namespace marionette::test
