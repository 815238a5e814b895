// fd_util.hpp: descriptor housekeeping for a freshly forked child: closing everything it should not hold.
#pragma once

#include <span>

namespace echo {

// Closes every descriptor of the calling process except stdin, stdout, stderr and those in `keep` (any order;
// duplicates and negative values are fine). A prefork child never exec()s, so O_CLOEXEC does not do this for
// it (docs/ARCHITECTURE.md "Signals across fork"). One close_range() per gap between kept descriptors; a
// failed one does not stop the others. Returns 0, or the -errno of the first close_range() that failed.
int close_inherited_fds(std::span<const int> keep);

}  // namespace echo
