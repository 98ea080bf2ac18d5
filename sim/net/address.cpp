#include "sim/net/address.hpp"

#include <charconv>

namespace marionette {

std::optional<Ipv4> parse_ipv4(std::string_view text) {
    std::uint32_t value = 0;
    const char* p = text.data();
    const char* end = text.data() + text.size();
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (p == end || *p != '.') return std::nullopt;
            ++p;
        }
        if (p == end || *p < '0' || *p > '9') return std::nullopt;
        unsigned octet = 0;
        auto [next, ec] = std::from_chars(p, end, octet);
        if (ec != std::errc() || octet > 255 || next - p > 3) return std::nullopt;
        p = next;
        value = (value << 8) | octet;
    }
    if (p != end) return std::nullopt;
    return Ipv4{value};
}

std::string to_string(Ipv4 address) {
    const std::uint32_t v = address.value;
    return std::to_string(v >> 24) + "." + std::to_string((v >> 16) & 0xff) + "." + std::to_string((v >> 8) & 0xff) +
           "." + std::to_string(v & 0xff);
}

std::string to_string(SockAddr address) { return to_string(address.ip) + ":" + std::to_string(address.port); }

}  // namespace marionette
