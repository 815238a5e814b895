// ready_page.hpp: what GET /ready answers a load balancer's health check, from the master's readiness (R91).
#pragma once

#include <string_view>

#include "worker/figures.hpp"

namespace echo {

struct ReadyAnswer {
    unsigned status;        // 200 in the rotation, else 503
    std::string_view body;  // one line saying why, for the operator who curls it
};

// Only 200 puts the server in a balancer's rotation (HAProxy's `http-check expect status 200`); 503 is the
// status balancers and Kubernetes' readiness probes read as "alive but send nothing" (docs/FLEET.md).
inline ReadyAnswer ready_answer(Readiness readiness) {
    switch (readiness) {
        case Readiness::Serving:
            return {200, "ready\n"};
        case Readiness::Starting:
            return {503, "starting\n"};
        case Readiness::Leaving:
            return {503, "leaving rotation\n"};
        case Readiness::Stopping:
            return {503, "stopping\n"};
    }
    return {503, "unknown\n"};
}

}  // namespace echo
