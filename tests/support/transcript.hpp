// Transcript tests: a text file of commands, each followed by the output it must produce.
//
//   # comments and blank lines between cases are kept as they are
//   send n1 n3 hello
//   ----
//   t=0.001 n3 <- frame rpc from n1 len=5
//
// A case is one command line, a "----" line, then the expected output up to the next blank line.
// An output that itself contains blank lines is written between "----" / "----" doubled
// separators (as in CockroachDB's datadriven). The handler renders a command to text; the
// harness compares, and with PRAETOR_REWRITE=1 in the environment (or --rewrite on the test's
// command line) rewrites the file with the actual output so the diff can be reviewed like code.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace praetor::test {

using TranscriptHandler = std::function<std::string(std::string_view command)>;

struct TranscriptCase {
  std::string preamble;  // comment/blank lines before the command, verbatim
  std::string command;
  std::string expected;  // without the trailing newline
  int line = 0;          // of the command, 1-based
};

struct TranscriptFile {
  std::vector<TranscriptCase> cases;
  std::string trailer;  // comment/blank lines after the last case
};

// Parses transcript text; on a malformed file returns false and sets `error`.
bool parse_transcript(std::string_view text, TranscriptFile& out, std::string& error);
std::string render_transcript(const TranscriptFile& file);

struct TranscriptOutcome {
  bool ok = true;
  bool rewritten = false;
  std::string report;  // one entry per mismatching case: line, command, expected, actual
};

// Runs every case of the file at `path` through `handler`. When rewriting, mismatches are
// written back into the file and the outcome is ok.
TranscriptOutcome run_transcript(const std::string& path, const TranscriptHandler& handler);
bool transcript_rewrite_requested();

// GoogleTest helper: ADD_FAILURE with the report on mismatch.
void expect_transcript(const std::string& path, const TranscriptHandler& handler);

}  // namespace praetor::test
