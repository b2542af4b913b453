#include "tests/support/transcript.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace praetor::test {

namespace {

constexpr std::string_view kSeparator = "----";

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

bool is_blank(const std::string& line) {
  return line.find_first_not_of(" \t\r") == std::string::npos;
}

std::string trim_trailing_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

bool has_blank_line(const std::string& text) {
  for (const auto& line : split_lines(text)) {
    if (is_blank(line)) return true;
  }
  return text.find("\n\n") != std::string::npos;
}

}  // namespace

bool parse_transcript(std::string_view text, TranscriptFile& out, std::string& error) {
  std::vector<std::string> lines = split_lines(text);
  std::string pending;
  std::size_t i = 0;
  while (i < lines.size()) {
    const std::string& line = lines[i];
    if (is_blank(line) || line.rfind('#', 0) == 0) {
      pending += line + "\n";
      ++i;
      continue;
    }
    TranscriptCase c;
    c.preamble = std::move(pending);
    pending.clear();
    c.command = line;
    c.line = static_cast<int>(i + 1);
    if (i + 1 >= lines.size() || lines[i + 1] != kSeparator) {
      error = "line " + std::to_string(i + 2) + ": expected \"----\" after command";
      return false;
    }
    i += 2;
    bool doubled = i < lines.size() && lines[i] == kSeparator;
    std::string body;
    if (doubled) {
      ++i;
      while (i + 1 < lines.size() && !(lines[i] == kSeparator && lines[i + 1] == kSeparator)) {
        body += lines[i++] + "\n";
      }
      if (i + 1 >= lines.size()) {
        error = "line " + std::to_string(c.line) + ": unterminated \"----\" block";
        return false;
      }
      i += 2;
    } else {
      while (i < lines.size() && !is_blank(lines[i])) body += lines[i++] + "\n";
    }
    c.expected = trim_trailing_newlines(std::move(body));
    out.cases.push_back(std::move(c));
  }
  out.trailer = std::move(pending);
  return true;
}

std::string render_transcript(const TranscriptFile& file) {
  std::string out;
  for (std::size_t i = 0; i < file.cases.size(); ++i) {
    const TranscriptCase& c = file.cases[i];
    std::string preamble = c.preamble;
    // Cases are separated by at least one blank line: the blank ends the previous output.
    if (i > 0 && (preamble.empty() || preamble[0] != '\n')) preamble = "\n" + preamble;
    out += preamble;
    out += c.command + "\n" + std::string(kSeparator) + "\n";
    if (has_blank_line(c.expected)) {
      out += std::string(kSeparator) + "\n" + c.expected + "\n" + std::string(kSeparator) + "\n" +
             std::string(kSeparator) + "\n";
    } else if (!c.expected.empty()) {
      out += c.expected + "\n";
    }
  }
  std::string trailer = file.trailer;
  while (!trailer.empty() && trailer[0] == '\n') trailer.erase(0, 1);
  if (!trailer.empty()) out += "\n" + trailer;
  return out;
}

bool transcript_rewrite_requested() {
  const char* env = std::getenv("PRAETOR_REWRITE");
  if (env != nullptr && std::string_view(env) == "1") return true;
  // gtest_main owns argv, so look at our own command line for --rewrite.
  std::ifstream cmdline("/proc/self/cmdline", std::ios::binary);
  std::string arg;
  while (std::getline(cmdline, arg, '\0')) {
    if (arg == "--rewrite") return true;
  }
  return false;
}

TranscriptOutcome run_transcript(const std::string& path, const TranscriptHandler& handler) {
  TranscriptOutcome outcome;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    outcome.ok = false;
    outcome.report = "cannot read " + path;
    return outcome;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  TranscriptFile file;
  std::string error;
  if (!parse_transcript(buffer.str(), file, error)) {
    outcome.ok = false;
    outcome.report = path + ": " + error;
    return outcome;
  }
  bool rewrite = transcript_rewrite_requested();
  bool changed = false;
  for (auto& c : file.cases) {
    std::string actual = trim_trailing_newlines(handler(c.command));
    if (actual == c.expected) continue;
    if (rewrite) {
      c.expected = actual;
      changed = true;
      continue;
    }
    outcome.ok = false;
    outcome.report += path + ":" + std::to_string(c.line) + ": " + c.command + "\n--- expected\n" +
                      c.expected + "\n+++ actual\n" + actual + "\n";
  }
  if (rewrite && changed) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << render_transcript(file);
    outcome.rewritten = true;
  }
  return outcome;
}

void expect_transcript(const std::string& path, const TranscriptHandler& handler) {
  TranscriptOutcome outcome = run_transcript(path, handler);
  if (!outcome.ok) ADD_FAILURE() << outcome.report;
}

}  // namespace praetor::test
