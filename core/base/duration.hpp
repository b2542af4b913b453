// Go-style duration strings, as Consul config and APIs use them: "15s", "1.5m", "0.001s",
// "1h30m", "100ms", "2us", "3µs", "0". Parsing is exact (integer nanoseconds, no float drift).
#pragma once

#include <string>
#include <string_view>

#include "core/base/instant.hpp"
#include "core/base/result.hpp"

namespace praetor {

Result<Duration> parse_go_duration(std::string_view text);
// Go's time.Duration.String(): "0s", "1.5s", "100ms", "1m30s", "72h0m0s".
std::string format_go_duration(Duration d);

}  // namespace praetor
