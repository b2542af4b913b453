// RefusalLog with a manual clock: the first refusal is logged at once, later ones within the
// interval are counted into one line, every refusal is counted exactly once, and a quiet interval
// resets it.
#include "io/refusal_log.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace praetor::io {
namespace {

class Lines final : public Logger {
 public:
  void log(LogLevel level, std::string_view, std::string_view message) override {
    EXPECT_EQ(level, LogLevel::kWarn);
    lines.emplace_back(message);
  }
  bool enabled(LogLevel) const override { return true; }
  std::vector<std::string> lines;
};

Instant at_ms(std::int64_t ms) { return Instant::from_ns(ms * 1'000'000); }

TEST(RefusalLog, AFloodIsOneLineAtOnceThenOneLinePerInterval) {
  Lines logger;
  RefusalLog log(logger, "http", "refused", "connections", Duration::milliseconds(1000));
  EXPECT_TRUE(log.flush_at().is_never());
  log.refused(at_ms(0), "refusing connection from a: full");
  ASSERT_EQ(logger.lines.size(), 1u);
  EXPECT_EQ(logger.lines[0], "refusing connection from a: full");
  EXPECT_TRUE(log.flush_at().is_never());  // nothing counted yet
  for (int i = 1; i <= 500; ++i) log.refused(at_ms(i), "refusing connection from b: full");
  EXPECT_EQ(logger.lines.size(), 1u);
  EXPECT_EQ(log.flush_at(), at_ms(1000));
  log.flush(at_ms(1000));
  ASSERT_EQ(logger.lines.size(), 2u);
  EXPECT_EQ(logger.lines[1],
            "refused 500 connections in the last 1.0s: refusing connection from b: full");
  // The flood goes on: the next interval is counted into the next line, not logged one by one.
  for (int i = 0; i < 7; ++i) log.refused(at_ms(1500 + i), "refusing connection from c: full");
  EXPECT_EQ(logger.lines.size(), 2u);
  log.flush(at_ms(2000));
  ASSERT_EQ(logger.lines.size(), 3u);
  EXPECT_EQ(logger.lines[2],
            "refused 7 connections in the last 1.0s: refusing connection from c: full");
  EXPECT_EQ(log.refused_total(), 508u);
  EXPECT_EQ(log.lines(), 3u);

  // A quiet interval: the timer's flush finds nothing, and the next refusal is logged at once.
  log.flush(at_ms(3000));
  EXPECT_EQ(logger.lines.size(), 3u);
  log.refused(at_ms(9000), "refusing connection from d: full");
  ASSERT_EQ(logger.lines.size(), 4u);
  EXPECT_EQ(logger.lines[3], "refusing connection from d: full");
}

TEST(RefusalLog, ALateFlushHappensAtTheNextRefusal) {
  Lines logger;
  RefusalLog log(logger, "rpc", "dropped", "frames", Duration::milliseconds(1000));
  log.refused(at_ms(0), "first");
  log.refused(at_ms(10), "second");
  // No timer ran; the next refusal after the interval logs the count, then counts itself.
  log.refused(at_ms(2500), "third");
  ASSERT_EQ(logger.lines.size(), 2u);
  EXPECT_EQ(logger.lines[1], "dropped 1 frames in the last 2.5s: second");
  log.flush(at_ms(2600));
  ASSERT_EQ(logger.lines.size(), 3u);
  EXPECT_EQ(logger.lines[2], "dropped 1 frames in the last 0.1s: third");
  EXPECT_EQ(log.refused_total(), 3u);
}

}  // namespace
}  // namespace praetor::io
