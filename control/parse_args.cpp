#include "control/parse_args.hpp"

#include <algorithm>
#include <stdexcept>

#include "control/parse.hpp"

namespace marionette::detail {

[[noreturn]] void fail(ErrorCode code, std::size_t column, std::string message) {
    throw Failure{ParseError{code, column, std::move(message)}};
}

std::string_view usage_of(std::string_view name) {
    for (const CommandInfo& info : command_table()) {
        if (info.name == name) return info.usage;
    }
    return name;
}

std::vector<std::string_view> all_command_names() {
    std::vector<std::string_view> names;
    for (const CommandInfo& info : command_table()) names.push_back(info.name);
    return names;
}

Cursor Cursor::rest_as(std::string_view name) {
    Cursor rest(name, words_, pos_, end_column_);
    pos_ = words_.size();
    return rest;
}

const Word& Cursor::next(std::string_view what) {
    if (done()) {
        fail(ErrorCode::bad_argument, end_column_,
             "missing " + std::string(what) + " (usage: " + std::string(usage_of(name_)) + ")");
    }
    return words_[pos_++];
}

void Cursor::finish() const {
    if (!done()) {
        fail(ErrorCode::bad_argument, words_[pos_].column,
             "unexpected argument '" + words_[pos_].text + "' (usage: " + std::string(usage_of(name_)) + ")");
    }
}

std::uint64_t parse_u64(const Word& word, std::string_view what) {
    const std::string& t = word.text;
    if (t.empty() || !std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        fail(ErrorCode::bad_argument, word.column,
             "invalid " + std::string(what) + " '" + t + "': expected a decimal number");
    }
    if (t.size() > 1 && t[0] == '0') {
        fail(ErrorCode::bad_argument, word.column,
             "invalid " + std::string(what) + " '" + t + "': leading zeros are not allowed");
    }
    std::uint64_t value = 0;
    for (char c : t) {
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            fail(ErrorCode::bad_argument, word.column, "invalid " + std::string(what) + " '" + t + "': too large");
        }
        value = value * 10 + digit;
    }
    return value;
}

Ns parse_time(std::size_t column, std::string_view text) {
    try {
        return parse_duration(text);
    } catch (const std::invalid_argument& e) {
        fail(ErrorCode::bad_argument, column, e.what());
    }
}

Ns parse_time(const Word& word) { return parse_time(word.column, word.text); }

Rate parse_rate(const Word& word, std::string_view text) {
    try {
        return Rate::parse(text);
    } catch (const std::invalid_argument& e) {
        fail(ErrorCode::bad_argument, word.column, e.what());
    }
}

std::string node_name(const Word& word, std::string_view what) {
    if (!valid_node_name(word.text)) {
        fail(ErrorCode::bad_argument, word.column,
             "invalid " + std::string(what) + " '" + word.text +
                 "': expected 1 to 64 of A-Z a-z 0-9 _ - (not starting with '-', not 'random')");
    }
    return word.text;
}

std::string optional_node(Cursor& args) {
    std::string node;
    if (!args.done()) node = node_name(args.next("node"), "node name");
    args.finish();
    return node;
}

std::vector<KeyValue> key_values(Cursor& args, const std::vector<std::string_view>& keys) {
    std::vector<KeyValue> out;
    while (!args.done()) {
        const Word& word = args.next("key=value");
        const std::size_t eq = word.text.find('=');
        if (eq == std::string::npos) {
            fail(ErrorCode::bad_argument, word.column,
                 "expected key=value, got '" + word.text + "' (usage: " + std::string(usage_of(args.name())) + ")");
        }
        KeyValue kv{word.text.substr(0, eq), word.text.substr(eq + 1), &word};
        if (std::find(keys.begin(), keys.end(), kv.key) == keys.end()) {
            fail(ErrorCode::bad_argument, word.column,
                 "unknown key '" + kv.key + "' for " + std::string(args.name()) + did_you_mean(kv.key, keys));
        }
        for (const KeyValue& seen : out) {
            if (seen.key == kv.key) fail(ErrorCode::bad_argument, word.column, "key '" + kv.key + "' given twice");
        }
        out.push_back(std::move(kv));
    }
    return out;
}

const KeyValue* find_key(const std::vector<KeyValue>& kvs, std::string_view key) {
    for (const KeyValue& kv : kvs) {
        if (kv.key == key) return &kv;
    }
    return nullptr;
}

const KeyValue& require_key(const std::vector<KeyValue>& kvs, std::string_view key, const Cursor& args) {
    const KeyValue* kv = find_key(kvs, key);
    if (kv == nullptr) {
        fail(ErrorCode::bad_argument, args.end_column(),
             "missing " + std::string(key) + "=... (usage: " + std::string(usage_of(args.name())) + ")");
    }
    return *kv;
}

std::string kv_node(const std::vector<KeyValue>& kvs) {
    const KeyValue* kv = find_key(kvs, "node");
    if (kv == nullptr) return "";
    return node_name(Word{kv->value, kv->word->column, true}, "node name");
}

}  // namespace marionette::detail
