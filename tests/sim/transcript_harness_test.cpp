// The transcript harness itself: parsing, rendering, mismatch reports and rewriting.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/support/transcript.hpp"

namespace praetor::test {
namespace {

constexpr std::string_view kText =
    "# header comment\n"
    "\n"
    "echo a\n"
    "----\n"
    "a\n"
    "\n"
    "# blank-line output uses doubled separators\n"
    "two-paragraphs\n"
    "----\n"
    "----\n"
    "first\n"
    "\n"
    "second\n"
    "----\n"
    "----\n"
    "\n"
    "empty\n"
    "----\n"
    "\n"
    "# trailer\n";

TEST(TranscriptHarnessTest, ParsesCasesCommentsAndDoubledSeparators) {
  TranscriptFile f;
  std::string error;
  ASSERT_TRUE(parse_transcript(kText, f, error)) << error;
  ASSERT_EQ(f.cases.size(), 3u);
  EXPECT_EQ(f.cases[0].command, "echo a");
  EXPECT_EQ(f.cases[0].expected, "a");
  EXPECT_EQ(f.cases[0].line, 3);
  EXPECT_EQ(f.cases[1].expected, "first\n\nsecond");
  EXPECT_EQ(f.cases[2].command, "empty");
  EXPECT_EQ(f.cases[2].expected, "");
  EXPECT_EQ(f.trailer, "\n# trailer\n");
  EXPECT_EQ(render_transcript(f), kText);
}

TEST(TranscriptHarnessTest, RejectsACommandWithoutSeparator) {
  TranscriptFile f;
  std::string error;
  EXPECT_FALSE(parse_transcript("cmd\nnot a separator\n", f, error));
  EXPECT_NE(error.find("line 2"), std::string::npos);
  EXPECT_FALSE(parse_transcript("cmd\n----\n----\nnever closed\n", f, error));
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TranscriptHarnessTest, ReportsMismatchesAndRewrites) {
  std::string path = ::testing::TempDir() + "/praetor_transcript_harness.txt";
  {
    std::ofstream out(path, std::ios::trunc);
    out << "# keep me\nupper abc\n----\nwrong\n\nupper x\n----\nX\n";
  }
  auto upper = [](std::string_view cmd) {
    std::string arg(cmd.substr(cmd.find(' ') + 1));
    for (char& c : arg) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return arg;
  };
  TranscriptOutcome bad = run_transcript(path, upper);
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.report.find(":2: upper abc"), std::string::npos) << bad.report;
  EXPECT_NE(bad.report.find("+++ actual\nABC"), std::string::npos) << bad.report;
  EXPECT_EQ(bad.report.find("upper x"), std::string::npos);  // that case matched

  setenv("PRAETOR_REWRITE", "1", 1);
  TranscriptOutcome rewritten = run_transcript(path, upper);
  unsetenv("PRAETOR_REWRITE");
  EXPECT_TRUE(rewritten.ok);
  EXPECT_TRUE(rewritten.rewritten);
  EXPECT_EQ(read(path), "# keep me\nupper abc\n----\nABC\n\nupper x\n----\nX\n");
  EXPECT_TRUE(run_transcript(path, upper).ok);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace praetor::test
