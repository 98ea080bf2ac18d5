#include "control/framing.hpp"

namespace marionette {

std::vector<Frame> LineAssembler::feed(std::string_view chunk) {
    std::vector<Frame> frames;
    while (!chunk.empty()) {
        const std::size_t newline = chunk.find('\n');
        const std::string_view piece = chunk.substr(0, newline);
        pending_bytes_ += piece.size();
        if (!skipping_ && pending_bytes_ > max_line_bytes_) {
            // Over the limit: forget what we held and skip to the newline.
            skipping_ = true;
            buffer_.clear();
            buffer_.shrink_to_fit();
        }
        if (!skipping_) buffer_.append(piece);
        if (newline == std::string_view::npos) break;
        Frame frame;
        frame.length_bytes = pending_bytes_;
        if (skipping_) {
            frame.kind = Frame::Kind::too_long;
        } else {
            if (!buffer_.empty() && buffer_.back() == '\r') buffer_.pop_back();
            frame.text = std::move(buffer_);
        }
        frames.push_back(std::move(frame));
        buffer_.clear();
        pending_bytes_ = 0;
        skipping_ = false;
        chunk.remove_prefix(newline + 1);
    }
    return frames;
}

std::size_t LineAssembler::finish() {
    const std::size_t dropped = pending_bytes_;
    buffer_.clear();
    pending_bytes_ = 0;
    skipping_ = false;
    return dropped;
}

}  // namespace marionette
