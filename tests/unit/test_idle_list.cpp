// test_idle_list.cpp: the least-recently-active list (server/worker/idle_list.hpp): order, touch, removal.
#include <doctest/doctest.h>

#include <array>
#include <memory>
#include <vector>

#include "worker/idle_list.hpp"

using echo::IdleHook;
using echo::IdleList;

namespace {

struct Item {
    int id = 0;
    IdleHook<Item> hook;
};

using List = IdleList<Item, &Item::hook>;

std::vector<int> order(const List& list) {
    std::vector<int> ids;
    for (Item& item : list)
        ids.push_back(item.id);
    return ids;
}

struct Five {
    std::array<Item, 5> items{{{0, {}}, {1, {}}, {2, {}}, {3, {}}, {4, {}}}};
    List list;
    Five() {
        for (auto& item : items)
            list.touch(item);
    }
};

}  // namespace

TEST_CASE("an empty list") {
    List list;
    Item lone{7, {}};
    CHECK(list.empty());
    CHECK(list.size() == 0);
    CHECK(list.oldest() == nullptr);
    CHECK(list.newest() == nullptr);
    CHECK(order(list).empty());
    CHECK(!list.contains(lone));
    list.remove(lone);  // not in it: nothing happens
    CHECK(list.empty());
}

TEST_CASE("touch appends at the newest end, in order") {
    Five f;
    CHECK(order(f.list) == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(f.list.size() == 5);
    CHECK(f.list.oldest() == &f.items[0]);
    CHECK(f.list.newest() == &f.items[4]);
    for (auto& item : f.items)
        CHECK(f.list.contains(item));
}

TEST_CASE("touch moves an item to the newest end from anywhere") {
    Five f;
    f.list.touch(f.items[2]);  // the middle
    CHECK(order(f.list) == std::vector<int>{0, 1, 3, 4, 2});
    f.list.touch(f.items[0]);  // the oldest
    CHECK(order(f.list) == std::vector<int>{1, 3, 4, 2, 0});
    CHECK(f.list.oldest() == &f.items[1]);
    f.list.touch(f.items[0]);  // already the newest: no change
    CHECK(order(f.list) == std::vector<int>{1, 3, 4, 2, 0});
    CHECK(f.list.size() == 5);
}

TEST_CASE("a single item is both ends, and touching it keeps it there") {
    List list;
    Item only{1, {}};
    list.touch(only);
    list.touch(only);
    CHECK(list.size() == 1);
    CHECK(list.oldest() == &only);
    CHECK(list.newest() == &only);
    list.remove(only);
    CHECK(list.empty());
    CHECK(list.newest() == nullptr);
    CHECK(!list.contains(only));
}

TEST_CASE("remove from the oldest end, the newest end and the middle") {
    Five f;
    f.list.remove(f.items[0]);
    CHECK(order(f.list) == std::vector<int>{1, 2, 3, 4});
    CHECK(f.list.oldest() == &f.items[1]);
    f.list.remove(f.items[4]);
    CHECK(order(f.list) == std::vector<int>{1, 2, 3});
    CHECK(f.list.newest() == &f.items[3]);
    f.list.remove(f.items[2]);
    CHECK(order(f.list) == std::vector<int>{1, 3});
    CHECK(f.list.size() == 2);
    f.list.remove(f.items[2]);  // twice: nothing happens
    CHECK(f.list.size() == 2);
    CHECK(!f.list.contains(f.items[2]));
}

TEST_CASE("a removed item can come back, at the newest end") {
    Five f;
    f.list.remove(f.items[1]);
    f.list.touch(f.items[1]);
    CHECK(order(f.list) == std::vector<int>{0, 2, 3, 4, 1});
    CHECK(f.list.size() == 5);
}

TEST_CASE("iteration may remove the item it is on") {
    Five f;
    std::vector<int> seen;
    for (Item& item : f.list) {
        seen.push_back(item.id);
        if (item.id % 2 == 0) f.list.remove(item);
    }
    CHECK(seen == std::vector<int>{0, 1, 2, 3, 4});
    CHECK(order(f.list) == std::vector<int>{1, 3});

    for (Item& item : f.list)
        f.list.remove(item);  // every one
    CHECK(f.list.empty());
    CHECK(f.list.size() == 0);
}

TEST_CASE("iteration may destroy the item it is on, as closing a connection does") {
    List list;
    std::vector<std::unique_ptr<Item>> owned;
    for (int i = 0; i < 4; ++i) {
        owned.push_back(std::make_unique<Item>());
        owned.back()->id = i;
        list.touch(*owned.back());
    }
    std::vector<int> seen;
    for (Item& item : list) {
        seen.push_back(item.id);
        auto index = static_cast<std::size_t>(item.id);
        list.remove(item);
        owned[index].reset();
    }
    CHECK(seen == std::vector<int>{0, 1, 2, 3});
    CHECK(list.empty());
}

TEST_CASE("expiring from the oldest end stops at the first item still active") {
    // The worker's idle sweep: close from the oldest while it is due, touch moves the busy ones out of reach.
    Five f;
    f.list.touch(f.items[0]);
    f.list.touch(f.items[1]);
    std::vector<int> expired;
    while (!f.list.empty() && f.list.oldest()->id >= 2) {
        expired.push_back(f.list.oldest()->id);
        f.list.remove(*f.list.oldest());
    }
    CHECK(expired == std::vector<int>{2, 3, 4});
    CHECK(order(f.list) == std::vector<int>{0, 1});
}
