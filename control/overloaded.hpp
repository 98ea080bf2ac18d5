// The usual std::visit helper: one lambda per alternative (private to control/).
#pragma once

namespace marionette::detail {

template <class... Fs>
struct Overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

}  // namespace marionette::detail
