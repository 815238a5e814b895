// test_pending_buffer.cpp: the capped, lazily allocated per-connection buffer.
#include <doctest/doctest.h>

#include <string>

#include "worker/pending_buffer.hpp"

using namespace echo;

TEST_CASE("an empty buffer owns no storage and releases it once drained") {
    PendingBuffer b(16);
    CHECK(b.empty());
    CHECK(!b.allocated());
    CHECK(b.space() == 16);
    std::string hello = "hello";
    b.append(hello);
    CHECK(b.allocated());
    CHECK(b.size() == 5);
    CHECK(std::string(b.data().data(), b.data().size()) == "hello");
    b.consume(2);
    CHECK(std::string(b.data().data(), b.data().size()) == "llo");
    b.consume(3);
    CHECK(b.empty());
    CHECK(!b.allocated());
}

TEST_CASE("the cap holds and order is kept across compaction") {
    PendingBuffer b(8);
    b.append(std::string("abcdef"));
    b.consume(4);  // "ef" left at offset 4
    auto tail = b.free_tail();
    CHECK(tail.size() == 6);  // compacted: the whole space is contiguous
    std::string more = "ghijkl";
    std::copy(more.begin(), more.end(), tail.begin());
    b.commit(6);
    CHECK(b.space() == 0);
    CHECK(std::string(b.data().data(), b.data().size()) == "efghijkl");
}
