// A set of disjoint half-open byte (or block) ranges.
//
// The disk model needs range arithmetic in three places: which blocks of a
// file are allocated (st_blocks, ENOSPC), which bytes a later surviving write
// protects while a crash undoes earlier ones, and which parts of an undo
// record a later durable write has made obsolete. One small ordered map of
// begin -> end serves all three; adjacent ranges are merged on insert.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>

namespace marionette::detail {

/// Disjoint, merged half-open intervals [begin, end).
class IntervalSet {
public:
    /// Adds [begin, end); empty ranges are ignored.
    void add(std::uint64_t begin, std::uint64_t end) {
        if (begin >= end) return;
        auto it = ranges_.upper_bound(begin);
        if (it != ranges_.begin()) {
            auto prev = std::prev(it);
            if (prev->second >= begin) {
                begin = prev->first;
                end = std::max(end, prev->second);
                it = ranges_.erase(prev);
            }
        }
        while (it != ranges_.end() && it->first <= end) {
            end = std::max(end, it->second);
            it = ranges_.erase(it);
        }
        ranges_.emplace(begin, end);
    }

    /// Removes [begin, end) from the set.
    void remove(std::uint64_t begin, std::uint64_t end) {
        if (begin >= end) return;
        auto it = ranges_.upper_bound(begin);
        if (it != ranges_.begin()) --it;
        while (it != ranges_.end() && it->first < end) {
            const std::uint64_t b = it->first;
            const std::uint64_t e = it->second;
            if (e <= begin) {
                ++it;
                continue;
            }
            it = ranges_.erase(it);
            if (b < begin) ranges_.emplace(b, begin);
            if (e > end) ranges_.emplace(end, e);
        }
    }

    /// Calls fn(b, e) for every maximal part of [begin, end) not in the set,
    /// in increasing order.
    template <typename F>
    void for_each_gap(std::uint64_t begin, std::uint64_t end, F&& fn) const {
        std::uint64_t cursor = begin;
        auto it = ranges_.upper_bound(begin);
        if (it != ranges_.begin()) --it;
        for (; it != ranges_.end() && it->first < end && cursor < end; ++it) {
            if (it->second <= cursor) continue;
            if (it->first > cursor) fn(cursor, std::min(it->first, end));
            cursor = std::max(cursor, it->second);
        }
        if (cursor < end) fn(cursor, end);
    }

    /// Number of units of [begin, end) covered by the set.
    std::uint64_t covered(std::uint64_t begin, std::uint64_t end) const {
        std::uint64_t gaps = 0;
        for_each_gap(begin, end, [&](std::uint64_t b, std::uint64_t e) { gaps += e - b; });
        return (end > begin ? end - begin : 0) - gaps;
    }

    /// True if x is inside one of the ranges.
    bool contains(std::uint64_t x) const { return covered(x, x + 1) == 1; }

    /// Total units covered.
    std::uint64_t total() const {
        std::uint64_t sum = 0;
        for (const auto& [b, e] : ranges_) sum += e - b;
        return sum;
    }

    bool empty() const { return ranges_.empty(); }
    void clear() { ranges_.clear(); }
    const std::map<std::uint64_t, std::uint64_t>& ranges() const { return ranges_; }

private:
    std::map<std::uint64_t, std::uint64_t> ranges_;
};

}  // namespace marionette::detail
