// test_accepting.cpp: the listeners join the worker's epoll all or none (server/worker/accepting.hpp).
#include <doctest/doctest.h>

#include <cerrno>
#include <set>
#include <vector>

#include "worker/accepting.hpp"

using echo::add_all_or_none;

namespace {

// Stands in for the epoll set: what is registered, and which add fails with which error.
struct FakeEpoll {
    std::set<int> registered;
    int fail_on = -1;
    int fail_with = -ENOMEM;
    std::vector<int> removed;

    int add(int fd) {
        if (fd == fail_on) return fail_with;
        return registered.insert(fd).second ? 0 : -EEXIST;
    }
    int remove(int fd) {
        removed.push_back(fd);
        return registered.erase(fd) == 1 ? 0 : -ENOENT;
    }
    echo::RegisterFailure add_all(const std::vector<int>& fds) {
        return add_all_or_none(
            fds, [&](int fd) { return add(fd); }, [&](int fd) { return remove(fd); });
    }
};

}  // namespace

TEST_CASE("every listener added: no failure, nothing removed") {
    FakeEpoll ep;
    auto failure = ep.add_all({3, 4, 5});
    CHECK(failure.error == 0);
    CHECK(ep.registered == std::set<int>{3, 4, 5});
    CHECK(ep.removed.empty());
}

TEST_CASE("a failure part-way removes the ones already added, newest first") {
    FakeEpoll ep;
    ep.fail_on = 5;
    auto failure = ep.add_all({3, 4, 5, 6});
    CHECK(failure.error == -ENOMEM);
    CHECK(failure.fd == 5);
    CHECK(ep.registered.empty());
    CHECK(ep.removed == std::vector<int>{4, 3});
}

TEST_CASE("a failure on the first listener removes nothing") {
    FakeEpoll ep;
    ep.fail_on = 3;
    auto failure = ep.add_all({3, 4});
    CHECK(failure.error == -ENOMEM);
    CHECK(failure.fd == 3);
    CHECK(ep.removed.empty());
}

TEST_CASE("after a rolled-back failure the next attempt starts clean, never EEXIST") {
    // Without the rollback, the second attempt would find fd 3 still registered and fail with EEXIST.
    FakeEpoll ep;
    ep.fail_on = 4;
    CHECK(ep.add_all({3, 4}).error == -ENOMEM);
    ep.fail_on = -1;
    auto failure = ep.add_all({3, 4});
    CHECK(failure.error == 0);
    CHECK(ep.registered == std::set<int>{3, 4});
}

TEST_CASE("no listeners: nothing to add, no failure") {
    FakeEpoll ep;
    CHECK(ep.add_all({}).error == 0);
}
