#include "sim/kernel/event_line.hpp"

namespace marionette {

EventLine::EventLine(std::string_view name, Ns at_ns) {
    put_text(name);
    put_text(" at_ns=");
    put_decimal(at_ns);
}

void EventLine::put(char c) {
    // Keep one byte for the newline added by line().
    if (size_ + 1 < capacity_bytes) buffer_[size_++] = c;
}

void EventLine::put_text(std::string_view text) {
    for (char c : text) put(c);
}

void EventLine::put_decimal(std::uint64_t value) {
    char digits[20];
    std::size_t n = 0;
    do {
        digits[n++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0) put(digits[--n]);
}

EventLine& EventLine::add(std::string_view key, std::uint64_t value) {
    put(' ');
    put_text(key);
    put('=');
    put_decimal(value);
    return *this;
}

EventLine& EventLine::add_signed(std::string_view key, std::int64_t value) {
    put(' ');
    put_text(key);
    put('=');
    if (value < 0) {
        put('-');
        put_decimal(0 - static_cast<std::uint64_t>(value));
    } else {
        put_decimal(static_cast<std::uint64_t>(value));
    }
    return *this;
}

EventLine& EventLine::add_text(std::string_view key, std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    put(' ');
    put_text(key);
    put('=');
    for (char c : value) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f || c == '=' || c == '%' || c == '\\') {
            // Never split an escape at the end of the buffer.
            if (size_ + 4 >= capacity_bytes) break;
            put('%');
            put(hex[byte >> 4]);
            put(hex[byte & 0xf]);
        } else {
            put(c);
        }
    }
    return *this;
}

bool EventLine::append_raw(std::string_view text) {
    if (size_ + 1 + text.size() + 1 >= capacity_bytes) return false;
    put(' ');
    for (char c : text) put(c);
    return true;
}

std::string_view EventLine::line() {
    buffer_[size_] = '\n';
    return {buffer_, size_ + 1};
}

}  // namespace marionette
