#include "sim/scenario_file.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace praetor::sim {

namespace {

constexpr std::size_t kMaxErrors = 20;

struct Token {
  std::string text;
  bool quoted = false;
};

// Splits a line into words; "double quotes" group words, '#' outside quotes starts a comment.
// Returns an error message for an unterminated quote.
std::optional<std::string> tokenize(std::string_view line, std::vector<Token>& out) {
  std::size_t i = 0;
  while (i < line.size()) {
    char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#') {
      break;
    } else if (c == '"') {
      std::size_t end = line.find('"', i + 1);
      if (end == std::string_view::npos) return "unterminated quote";
      out.push_back({std::string(line.substr(i + 1, end - i - 1)), true});
      i = end + 1;
    } else {
      std::size_t start = i;
      while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
             line[i] != '#' && line[i] != '"') {
        ++i;
      }
      out.push_back({std::string(line.substr(start, i - start)), false});
    }
  }
  return std::nullopt;
}

bool parse_u64(std::string_view text, std::uint64_t& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

// A decimal "12", "2.5" as a count of 1e-9 units (nullopt on junk or absurd sizes).
std::optional<std::int64_t> parse_decimal_nano(std::string_view text) {
  std::size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() && frac.empty()) return std::nullopt;
  if (dot != std::string_view::npos && frac.empty()) return std::nullopt;
  if (frac.size() > 9) return std::nullopt;
  std::uint64_t w = 0;
  if (!whole.empty() && (!parse_u64(whole, w) || w > 1'000'000'000ULL)) return std::nullopt;
  std::uint64_t f = 0;
  if (!frac.empty() && !parse_u64(frac, f)) return std::nullopt;
  for (std::size_t k = frac.size(); k < 9; ++k) f *= 10;
  return static_cast<std::int64_t>(w * 1'000'000'000ULL + f);
}

}  // namespace

std::optional<Duration> parse_scenario_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  while (!text.empty()) {
    std::size_t n = 0;
    while (n < text.size() && ((text[n] >= '0' && text[n] <= '9') || text[n] == '.')) ++n;
    std::size_t u = n;
    while (u < text.size() && text[u] >= 'a' && text[u] <= 'z') ++u;
    std::optional<std::int64_t> number = parse_decimal_nano(text.substr(0, n));
    std::string_view unit = text.substr(n, u - n);
    if (!number) return std::nullopt;
    // number is in units of 1e-9; scale to nanoseconds of the unit.
    std::int64_t scale = 0;
    if (unit == "ns") scale = 1;
    if (unit == "us") scale = 1'000;
    if (unit == "ms") scale = 1'000'000;
    if (unit == "s") scale = 1'000'000'000;
    if (unit == "m") scale = 60'000'000'000LL;
    if (unit == "h") scale = 3'600'000'000'000LL;
    if (scale == 0) return std::nullopt;
    // Keep within ~100 days so the products below cannot overflow.
    if (*number / 1'000'000'000 > 100LL * 86400 * 1'000'000'000 / scale) return std::nullopt;
    if (total > 100LL * 86400 * 1'000'000'000) return std::nullopt;
    const std::int64_t whole = *number / 1'000'000'000;
    const std::int64_t frac = *number % 1'000'000'000;  // in 1e-9 of the unit
    total += whole * scale;
    total += scale >= 1'000'000 ? frac * (scale / 1'000'000) / 1'000 : frac * scale / 1'000'000'000;
    text = text.substr(u);
  }
  return Duration::nanoseconds(total);
}

const FileNode* ScenarioFile::node(std::string_view node_name) const {
  for (const auto& n : nodes) {
    if (n.name == node_name) return &n;
  }
  return nullptr;
}

std::vector<std::string> ScenarioFile::datacenters() const {
  std::vector<std::string> out;
  for (const auto& n : nodes) {
    if (std::find(out.begin(), out.end(), n.datacenter) == out.end()) out.push_back(n.datacenter);
  }
  return out;
}

std::vector<const FileNode*> ScenarioFile::servers_in(std::string_view datacenter) const {
  std::vector<const FileNode*> out;
  for (const auto& n : nodes) {
    if (n.server && n.datacenter == datacenter) out.push_back(&n);
  }
  return out;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string file) { sf_.file = std::move(file); }

 private:
  struct JoinLine {
    int line;
    bool wan;
    std::vector<std::string> from, to;
  };

 public:
  ScenarioParse parse(std::string_view text) {
    int number = 0;
    while (!text.empty() || number == 0) {
      std::size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      line_ = ++number;
      std::vector<Token> tokens;
      if (auto e = tokenize(line, tokens)) {
        error(*e);
      } else if (!tokens.empty()) {
        tokens_ = std::move(tokens);
        pos_ = 0;
        directive();
      }
      if (text.empty()) break;
    }
    line_ = 0;
    if (errors_.empty()) validate();
    ScenarioParse out;
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [line, message] : errors_) {
      if (out.errors.size() == kMaxErrors) break;
      out.errors.push_back(line > 0 ? fmt::format("{}:{}: {}", sf_.file, line, message)
                                    : fmt::format("{}: {}", sf_.file, message));
    }
    if (out.errors.empty()) {
      std::stable_sort(sf_.actions.begin(), sf_.actions.end(),
                       [](const FileAction& a, const FileAction& b) { return a.at < b.at; });
      out.scenario = std::move(sf_);
    }
    return out;
  }

 private:
  // --- errors and token access --------------------------------------------------------------

  void error(std::string message) { error_at(line_, std::move(message)); }
  void error_at(int line, std::string message) { errors_.emplace_back(line, std::move(message)); }

  bool more() const { return pos_ < tokens_.size(); }
  const std::string& peek() const { return tokens_[pos_].text; }
  // The next word, or an error saying what was expected.
  std::optional<std::string> word(std::string_view what) {
    if (!more()) {
      error(fmt::format("expected {} after '{}'", what, tokens_[pos_ - 1].text));
      return std::nullopt;
    }
    return tokens_[pos_++].text;
  }
  std::optional<Duration> duration(std::string_view what) {
    auto w = word("a duration");
    if (!w) return std::nullopt;
    auto d = parse_scenario_duration(*w);
    if (!d) error(fmt::format("{}: '{}' is not a duration (like 500ms, 2s, 1m30s)", what, *w));
    return d;
  }
  std::optional<Duration> signed_duration(std::string_view what, bool& negative) {
    auto w = word("a duration");
    if (!w) return std::nullopt;
    std::string_view t = *w;
    negative = false;
    if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
      negative = t[0] == '-';
      t.remove_prefix(1);
    }
    auto d = parse_scenario_duration(t);
    if (!d) error(fmt::format("{}: '{}' is not a duration (like +2s or -500ms)", what, *w));
    return d;
  }
  std::optional<std::uint64_t> count(std::string_view what, std::uint64_t low, std::uint64_t high) {
    auto w = word("a number");
    if (!w) return std::nullopt;
    std::uint64_t n = 0;
    if (!parse_u64(*w, n) || n < low || n > high) {
      error(fmt::format("{}: '{}' is not a whole number from {} to {}", what, *w, low, high));
      return std::nullopt;
    }
    return n;
  }
  std::optional<double> percent(std::string_view what) {
    auto w = word("a percentage");
    if (!w) return std::nullopt;
    std::string_view t = *w;
    std::optional<std::int64_t> nano;
    if (t.ends_with('%')) nano = parse_decimal_nano(t.substr(0, t.size() - 1));
    if (!nano || *nano > 100'000'000'000LL) {
      error(fmt::format("{}: '{}' is not a percentage from 0% to 100%", what, *w));
      return std::nullopt;
    }
    return static_cast<double>(*nano) / 1e9;
  }
  // `a b c -> ...`: names up to `stop` (or the end of the line).
  std::vector<std::string> names_until(std::string_view stop) {
    std::vector<std::string> out;
    while (more() && peek() != stop) out.push_back(tokens_[pos_++].text);
    return out;
  }
  void end_of_line() {
    if (more() && !failed_line()) error(fmt::format("unexpected '{}'", peek()));
  }
  bool failed_line() const { return !errors_.empty() && errors_.back().first == line_; }

  // --- directives ---------------------------------------------------------------------------

  void directive() {
    const std::string d = tokens_[pos_++].text;
    if (d == "scenario") {
      if (auto w = word("a name")) sf_.name = *w;
    } else if (d == "description") {
      std::string text;
      while (more()) text += (text.empty() ? "" : " ") + tokens_[pos_++].text;
      sf_.description = text;
    } else if (d == "duration") {
      if (auto v = duration("duration")) sf_.duration = *v;
    } else if (d == "raft-multiplier") {
      if (auto v = count("raft-multiplier", 1, 10)) sf_.raft_multiplier = static_cast<int>(*v);
    } else if (d == "retry-interval") {
      if (auto v = duration("retry-interval")) sf_.retry_interval = *v;
    } else if (d == "invariants") {
      auto w = word("on or off");
      if (w && *w != "on" && *w != "off")
        error(fmt::format("invariants: expected on or off, not '{}'", *w));
      if (w) sf_.invariants = *w == "on";
    } else if (d == "server" || d == "client") {
      node_line(d == "server");
    } else if (d == "join") {
      join_line();
    } else if (d == "service") {
      service_line();
    } else if (d == "master") {
      if (auto w = word("the master host")) {
        sf_.initial_master = *w;
        master_line_ = line_;
      }
    } else if (d == "kv") {
      kv_line();
    } else if (d == "dns") {
      dns_line();
    } else if (d == "at") {
      at_line();
    } else if (d == "expect") {
      expect_line();
    } else if (d == "expect-cross-dc") {
      cross_dc_line();
    } else {
      error(fmt::format(
          "unknown directive '{}' (expected scenario, description, duration, server, client, "
          "join, service, master, kv, dns, at, expect, expect-cross-dc, raft-multiplier, "
          "retry-interval or invariants)",
          d));
      return;
    }
    end_of_line();
  }

  void node_line(bool server) {
    FileNode n;
    n.server = server;
    n.line = line_;
    auto name = word("a node name");
    auto address = name ? word("an IPv4 address") : std::nullopt;
    auto dc = address ? word("a datacenter") : std::nullopt;
    if (!dc) return;
    n.name = *name;
    n.address = *address;
    n.datacenter = *dc;
    if (!valid_ipv4(n.address)) {
      error(fmt::format("'{}' is not an IPv4 address", n.address));
      return;
    }
    if (sf_.node(n.name) != nullptr) {
      error(fmt::format("node '{}' is declared twice", n.name));
      return;
    }
    for (const auto& other : sf_.nodes) {
      if (other.address == n.address) {
        error(fmt::format("address {} is already {}'s", n.address, other.name));
        return;
      }
    }
    sf_.nodes.push_back(n);
  }

  static bool valid_ipv4(std::string_view text) {
    int parts = 0;
    while (true) {
      std::size_t dot = text.find('.');
      std::uint64_t v = 0;
      std::string_view part = text.substr(0, dot);
      if (part.size() > 3 || !parse_u64(part, v) || v > 255) return false;
      ++parts;
      if (dot == std::string_view::npos) break;
      text = text.substr(dot + 1);
    }
    return parts == 4;
  }

  void join_line() {
    auto pool = word("lan or wan");
    if (!pool) return;
    if (*pool != "lan" && *pool != "wan") {
      error(fmt::format("join: expected lan or wan, not '{}'", *pool));
      return;
    }
    std::vector<std::string> from = names_until("->");
    if (!more()) {
      error("join: expected 'NODE... -> NODE...'");
      return;
    }
    ++pos_;  // "->"
    std::vector<std::string> to = names_until("");
    if (from.empty() || to.empty()) {
      error("join: expected nodes on both sides of '->'");
      return;
    }
    joins_.push_back({line_, *pool == "wan", from, to});
  }

  void service_line() {
    FileService s;
    s.line = line_;
    auto name = word("a service name");
    if (!name) return;
    s.name = *name;
    bool have_role = false;
    while (more()) {
      const std::string key = tokens_[pos_++].text;
      if (key == "role") {
        auto r = word("master or replica");
        if (!r) return;
        if (*r != "master" && *r != "replica") {
          error(fmt::format("service role: expected master or replica, not '{}'", *r));
          return;
        }
        s.role = *r == "master" ? FileService::Role::kMaster : FileService::Role::kReplica;
        have_role = true;
      } else if (key == "port") {
        auto p = count("port", 1, 65535);
        if (!p) return;
        s.port = static_cast<int>(*p);
      } else if (key == "interval") {
        auto d = duration("interval");
        if (!d) return;
        if (*d < Duration::milliseconds(100)) {
          error("service interval: at least 100ms");
          return;
        }
        s.interval = *d;
      } else if (key == "tag") {
        auto t = word("a tag");
        if (!t) return;
        s.tags.push_back(*t);
      } else if (key == "on") {
        s.nodes = names_until("");
      } else {
        error(fmt::format("service: unknown option '{}' (role, port, interval, tag, on)", key));
        return;
      }
    }
    if (!have_role) error("service: missing 'role master|replica'");
    if (s.nodes.empty()) error("service: missing 'on NODE...'");
    for (const auto& other : sf_.services) {
      if (other.name == s.name) error(fmt::format("service '{}' is declared twice", s.name));
    }
    if (!failed_line()) sf_.services.push_back(s);
  }

  void kv_line() {
    FileKvClient k;
    k.line = line_;
    auto node = word("a node");
    if (!node) return;
    k.node = *node;
    while (more()) {
      const std::string key = tokens_[pos_++].text;
      if (key == "every") {
        auto d = duration("every");
        if (!d) return;
        if (*d < Duration::milliseconds(1)) {
          error("kv every: at least 1ms");
          return;
        }
        k.every = *d;
      } else if (key == "keys") {
        auto n = count("keys", 1, 1000);
        if (!n) return;
        k.keys = *n;
      } else if (key == "reads") {
        auto p = percent("reads");
        if (!p) return;
        k.read_percent = static_cast<int>(*p);
      } else if (key == "prefix") {
        auto p = word("a key prefix");
        if (!p) return;
        k.prefix = *p;
      } else if (key == "timeout") {
        auto d = duration("timeout");
        if (!d) return;
        k.timeout = *d;
      } else if (key == "from") {
        auto d = duration("from");
        if (!d) return;
        k.from = *d;
      } else {
        error(fmt::format("kv: unknown option '{}' (every, keys, reads, prefix, timeout, from)",
                          key));
        return;
      }
    }
    sf_.kv.push_back(k);
  }

  void dns_line() {
    FileDnsProbe p;
    p.line = line_;
    auto node = word("a node");
    auto name = node ? word("a DNS name") : std::nullopt;
    if (!name) return;
    p.node = *node;
    p.name = *name;
    if (more() && peek() == "every") {
      ++pos_;
      auto d = duration("every");
      if (!d) return;
      if (*d < Duration::milliseconds(10)) {
        error("dns every: at least 10ms");
        return;
      }
      p.every = *d;
    }
    sf_.dns.push_back(p);
  }

  void at_line() {
    FileAction a;
    a.line = line_;
    auto t = duration("a time (like 30s)");
    if (!t) return;
    a.at = Instant::zero() + *t;
    auto verb = word("an action");
    if (!verb) return;
    using K = FileAction::Kind;
    const std::string& v = *verb;
    auto target = [&](std::string_view what) {
      auto w = word(what);
      if (w) a.target = *w;
      return w.has_value();
    };
    auto optional_for = [&] {
      if (more() && peek() == "for") {
        ++pos_;
        a.duration = duration("for");
        return a.duration.has_value();
      }
      return true;
    };
    if (v == "flip") {
      a.kind = K::kFlip;
      if (!target("the new master host")) return;
    } else if (v == "db-down" || v == "db-up") {
      a.kind = v == "db-down" ? K::kDbDown : K::kDbUp;
      if (!target("a host")) return;
    } else if (v == "partition") {
      a.kind = K::kPartition;
      if (!partition_sides(a)) return;
    } else if (v == "heal") {
      a.kind = K::kHeal;
    } else if (v == "kill") {
      a.kind = K::kKillLeader;
      auto what = word("'leader DATACENTER'");
      if (!what) return;
      if (*what != "leader") {
        error(fmt::format(
            "kill: expected 'leader DATACENTER' (use crash NODE for a node), not '{}'", *what));
        return;
      }
      if (!target("a datacenter") || !optional_for()) return;
    } else if (v == "crash") {
      a.kind = K::kCrash;
      if (!target("a node") || !optional_for()) return;
    } else if (v == "restart" || v == "stop") {
      a.kind = v == "restart" ? K::kRestart : K::kStop;
      if (!target("a node")) return;
    } else if (v == "skew") {
      a.kind = K::kSkew;
      if (!target("a node")) return;
      bool negative = false;
      auto d = signed_duration("skew", negative);
      if (!d) return;
      a.amount = negative ? Duration::zero() - *d : *d;
    } else if (v == "drift") {
      a.kind = K::kDrift;
      if (!target("a node")) return;
      auto w = word("a rate like +200ppm");
      if (!w) return;
      std::string_view rate = *w;
      bool negative = !rate.empty() && rate[0] == '-';
      if (!rate.empty() && (rate[0] == '+' || rate[0] == '-')) rate.remove_prefix(1);
      std::uint64_t ppm = 0;
      if (!rate.ends_with("ppm") || !parse_u64(rate.substr(0, rate.size() - 3), ppm) ||
          ppm > 100'000) {
        error(fmt::format("drift: '{}' is not a rate like +200ppm (at most 100000ppm)", *w));
        return;
      }
      a.ppm = negative ? -static_cast<std::int64_t>(ppm) : static_cast<std::int64_t>(ppm);
    } else if (v == "loss") {
      a.kind = K::kLoss;
      auto p = percent("loss");
      if (!p) return;
      a.percent = *p;
    } else if (v == "rolling-restart") {
      a.kind = K::kRollingRestart;
      if (!target("a datacenter")) return;
      a.duration = Duration::seconds(2);
      a.every = Duration::seconds(10);
      while (more()) {
        const std::string key = tokens_[pos_++].text;
        if (key == "down") {
          a.duration = duration("down");
          if (!a.duration) return;
        } else if (key == "every") {
          auto d = duration("every");
          if (!d) return;
          a.every = *d;
        } else if (key == "crash") {
          a.crash = true;
        } else {
          error(fmt::format("rolling-restart: unknown option '{}' (down, every, crash)", key));
          return;
        }
      }
      if (*a.duration >= a.every) {
        error("rolling-restart: 'down' must be shorter than 'every' (one server at a time)");
        return;
      }
    } else if (v == "register") {
      a.kind = K::kRegister;
      if (!target("a node")) return;
      auto s = word("a service name");
      if (!s) return;
      a.service = *s;
      if (more() && peek() == "port") {
        ++pos_;
        auto p = count("port", 1, 65535);
        if (!p) return;
        a.port = static_cast<int>(*p);
      }
    } else if (v == "deregister") {
      a.kind = K::kDeregister;
      if (!target("a node")) return;
      auto s = word("a service name");
      if (!s) return;
      a.service = *s;
    } else {
      error(fmt::format(
          "unknown action '{}' (flip, db-down, db-up, partition, heal, kill leader, crash, "
          "restart, stop, skew, drift, loss, rolling-restart, register, deregister)",
          v));
      return;
    }
    if (!failed_line() && !more()) sf_.actions.push_back(a);
  }

  // "shenzhen|foshan", "shenzhen | foshan", "s1,client1 | s3": sides of '|', items by ',' or
  // spaces.
  bool partition_sides(FileAction& a) {
    std::string joined;
    while (more()) joined += " " + tokens_[pos_++].text;
    std::vector<std::string> current;
    std::string item;
    auto flush_item = [&] {
      if (!item.empty()) current.push_back(item);
      item.clear();
    };
    for (char c : joined) {
      if (c == '|') {
        flush_item();
        a.sides.push_back(current);
        current.clear();
      } else if (c == ',' || c == ' ') {
        flush_item();
      } else {
        item += c;
      }
    }
    flush_item();
    a.sides.push_back(current);
    if (a.sides.size() != 2 || a.sides[0].empty() || a.sides[1].empty()) {
      error("partition: expected two sides, like 'shenzhen|foshan' or 's1,client1 | s3'");
      return false;
    }
    return true;
  }

  std::optional<FileBound> bound(std::string_view what) {
    // "within" was consumed; the bound runs to the next keyword or the end of the line.
    FileBound b;
    bool expect_term = true;
    bool any = false;
    while (more()) {
      const std::string& w = peek();
      if (w == "after" || w == "min" || w == "every" || w == "servfail-within" ||
          w == "answer-within") {
        break;
      }
      ++pos_;
      // "interval+2s" as one word: split on '+'.
      std::string_view rest = w;
      while (!rest.empty()) {
        std::size_t plus = rest.find('+');
        std::string_view term = rest.substr(0, plus);
        rest = plus == std::string_view::npos ? std::string_view() : rest.substr(plus + 1);
        if (!term.empty()) {
          if (!expect_term) {
            error(fmt::format("{}: expected '+' before '{}'", what, term));
            return std::nullopt;
          }
          if (term == "interval") {
            ++b.intervals;
          } else if (auto d = parse_scenario_duration(term)) {
            b.fixed = b.fixed + *d;
          } else {
            error(fmt::format("{}: '{}' is neither a duration nor 'interval'", what, term));
            return std::nullopt;
          }
          expect_term = false;
          any = true;
        }
        if (plus != std::string_view::npos) {
          if (expect_term) {
            error(fmt::format("{}: '+' without a term before it", what));
            return std::nullopt;
          }
          expect_term = true;
        }
      }
    }
    if (!any || expect_term) {
      error(fmt::format("{}: expected a bound like 7s or 'interval + 2s'", what));
      return std::nullopt;
    }
    return b;
  }

  bool keyword(std::string_view k) {
    if (!more() || peek() != k) {
      error(fmt::format("expected '{}'{}", k, more() ? fmt::format(", not '{}'", peek()) : ""));
      return false;
    }
    ++pos_;
    return true;
  }

  void expect_line() {
    FileExpectation e;
    e.line = line_;
    auto kind = word("what to expect");
    if (!kind) return;
    using K = FileExpectation::Kind;
    if (*kind == "failover") {
      // expect failover SERVICE at NODE within BOUND
      e.kind = K::kFailover;
      auto s = word("a service name");
      if (!s || !keyword("at")) return;
      e.service = *s;
      auto n = word("a node");
      if (!n || !keyword("within")) return;
      e.node = *n;
      auto b = bound("failover");
      if (!b) return;
      e.bound = *b;
    } else if (*kind == "linearizable") {
      e.kind = K::kLinearizable;
    } else if (*kind == "no-lost-writes") {
      e.kind = K::kNoLostWrites;
    } else if (*kind == "serving") {
      // expect serving DATACENTER during partition [min P%]
      e.kind = K::kServing;
      auto dc = word("a datacenter");
      if (!dc || !keyword("during") || !keyword("partition")) return;
      e.datacenter = *dc;
      if (more() && peek() == "min") {
        ++pos_;
        auto p = percent("min");
        if (!p) return;
        e.min_percent = static_cast<int>(*p);
      }
    } else if (*kind == "leader") {
      // expect leader DATACENTER within BOUND
      e.kind = K::kLeader;
      auto dc = word("a datacenter");
      if (!dc || !keyword("within")) return;
      e.datacenter = *dc;
      auto b = bound("leader");
      if (!b) return;
      e.bound = *b;
    } else if (*kind == "wan-alive") {
      // expect wan-alive within BOUND after heal
      e.kind = K::kWanAlive;
      if (!keyword("within")) return;
      auto b = bound("wan-alive");
      if (!b || !keyword("after") || !keyword("heal")) return;
      e.bound = *b;
    } else {
      error(fmt::format(
          "unknown expectation '{}' (failover, linearizable, no-lost-writes, serving, leader, "
          "wan-alive; cross-datacenter DNS is expect-cross-dc)",
          *kind));
      return;
    }
    if (e.bound.intervals > 0 && e.kind != K::kFailover) {
      error("'interval' only means something in a failover bound (the service's check interval)");
      return;
    }
    if (!failed_line() && !more()) sf_.expectations.push_back(e);
  }

  // expect-cross-dc NAME at NODE [every D] [answer-within D] [servfail-within D]
  void cross_dc_line() {
    FileExpectation e;
    e.kind = FileExpectation::Kind::kCrossDc;
    e.line = line_;
    e.bound.fixed = Duration::seconds(10);
    auto name = word("a DNS name");
    if (!name || !keyword("at")) return;
    e.name = *name;
    auto n = word("a node");
    if (!n) return;
    e.node = *n;
    while (more()) {
      const std::string key = tokens_[pos_++].text;
      if (key == "every") {
        auto d = duration("every");
        if (!d) return;
        if (*d < Duration::milliseconds(10)) {
          error("expect-cross-dc every: at least 10ms");
          return;
        }
        e.every = *d;
      } else if (key == "answer-within") {
        auto d = duration("answer-within");
        if (!d) return;
        e.bound.fixed = *d;
      } else if (key == "servfail-within") {
        auto d = duration("servfail-within");
        if (!d) return;
        e.servfail_bound = *d;
      } else {
        error(fmt::format(
            "expect-cross-dc: unknown option '{}' (every, answer-within, servfail-within)", key));
        return;
      }
    }
    sf_.expectations.push_back(e);
  }

  // --- cross-references ---------------------------------------------------------------------

  bool is_dc(std::string_view name) const {
    auto dcs = sf_.datacenters();
    return std::find(dcs.begin(), dcs.end(), name) != dcs.end();
  }

  const FileNode* need_node(int line, std::string_view name) {
    const FileNode* n = sf_.node(name);
    if (n == nullptr) error_at(line, fmt::format("no node named '{}'", name));
    return n;
  }

  bool need_dc(int line, std::string_view name, bool with_servers) {
    if (!is_dc(name)) {
      error_at(line, fmt::format("no datacenter named '{}'", name));
      return false;
    }
    if (with_servers && sf_.servers_in(name).empty()) {
      error_at(line, fmt::format("datacenter '{}' has no servers", name));
      return false;
    }
    return true;
  }

  bool carries_service(std::string_view node) const {
    for (const auto& s : sf_.services) {
      if (std::find(s.nodes.begin(), s.nodes.end(), node) != s.nodes.end()) return true;
    }
    return false;
  }

  void validate() {
    if (sf_.nodes.empty()) error("no nodes: declare at least one 'server NAME ADDRESS DATACENTER'");
    for (const auto& dc : sf_.datacenters()) {
      if (sf_.servers_in(dc).empty()) {
        error(fmt::format("datacenter '{}' has clients but no servers", dc));
      }
    }
    for (const auto& j : joins_) resolve_join(j);
    for (const auto& s : sf_.services) {
      for (const auto& n : s.nodes) {
        const FileNode* node = need_node(s.line, n);
        if (node != nullptr && node->server) {
          error_at(s.line, fmt::format("service on '{}': services live on client agents", n));
        }
      }
    }
    if (!sf_.services.empty() && sf_.initial_master.empty()) {
      error("services need a 'master NODE' line: the host whose checks say master at the start");
    }
    if (!sf_.initial_master.empty()) {
      if (need_node(master_line_, sf_.initial_master) != nullptr &&
          !carries_service(sf_.initial_master)) {
        error_at(master_line_, fmt::format("master '{}' carries no service", sf_.initial_master));
      }
    }
    for (const auto& k : sf_.kv) need_node(k.line, k.node);
    for (const auto& d : sf_.dns) need_node(d.line, d.node);
    for (const auto& a : sf_.actions) validate_action(a);
    for (const auto& e : sf_.expectations) validate_expectation(e);
  }

  void resolve_join(const JoinLine& j) {
    for (const auto& from : j.from) {
      const FileNode* f = need_node(j.line, from);
      if (f == nullptr) continue;
      if (j.wan && !f->server) {
        error_at(j.line,
                 fmt::format("join wan: '{}' is a client; only servers join the WAN", from));
        continue;
      }
      FileNode& mutable_node = *std::find_if(sf_.nodes.begin(), sf_.nodes.end(),
                                             [&](const FileNode& n) { return n.name == from; });
      for (const auto& to : j.to) {
        const FileNode* t = need_node(j.line, to);
        if (t == nullptr) continue;
        if (j.wan && !t->server) {
          error_at(j.line,
                   fmt::format("join wan: '{}' is a client; only servers join the WAN", to));
          continue;
        }
        (j.wan ? mutable_node.retry_join_wan : mutable_node.retry_join).push_back(to);
      }
    }
  }

  void validate_action(const FileAction& a) {
    using K = FileAction::Kind;
    if (a.at > Instant::zero() + sf_.duration) {
      error_at(a.line, fmt::format("this action comes after the end of the run (duration {}s)",
                                   sf_.duration.seconds_f()));
    }
    switch (a.kind) {
      case K::kFlip:
      case K::kDbDown:
      case K::kDbUp:
        if (need_node(a.line, a.target) != nullptr && !carries_service(a.target)) {
          error_at(a.line, fmt::format("'{}' carries no service", a.target));
        }
        break;
      case K::kPartition:
        for (const auto& side : a.sides) {
          for (const auto& item : side) {
            if (!is_dc(item) && sf_.node(item) == nullptr) {
              error_at(a.line,
                       fmt::format("partition: '{}' is neither a datacenter nor a node", item));
            }
          }
        }
        break;
      case K::kKillLeader:
      case K::kRollingRestart:
        need_dc(a.line, a.target, true);
        break;
      case K::kCrash:
      case K::kRestart:
      case K::kStop:
      case K::kSkew:
      case K::kDrift:
      case K::kRegister:
      case K::kDeregister:
        need_node(a.line, a.target);
        break;
      case K::kHeal:
      case K::kLoss:
        break;
    }
  }

  bool has_action(FileAction::Kind kind) const {
    return std::any_of(sf_.actions.begin(), sf_.actions.end(),
                       [&](const FileAction& a) { return a.kind == kind; });
  }

  void validate_expectation(const FileExpectation& e) {
    using K = FileExpectation::Kind;
    switch (e.kind) {
      case K::kFailover: {
        need_node(e.line, e.node);
        const FileService* found = nullptr;
        for (const auto& s : sf_.services) {
          if (s.name == e.service) found = &s;
        }
        if (found == nullptr) {
          error_at(e.line, fmt::format("no service named '{}'", e.service));
        } else if (found->role != FileService::Role::kMaster) {
          error_at(e.line, fmt::format("failover: '{}' is not a 'role master' service", e.service));
        }
        break;
      }
      case K::kServing:
        need_dc(e.line, e.datacenter, false);
        if (!has_action(FileAction::Kind::kPartition)) {
          error_at(e.line, "expect serving: the timeline has no partition");
        }
        break;
      case K::kLeader:
        need_dc(e.line, e.datacenter, true);
        break;
      case K::kCrossDc:
        need_node(e.line, e.node);
        break;
      case K::kLinearizable:
      case K::kNoLostWrites:
      case K::kWanAlive:
        break;
    }
  }

  ScenarioFile sf_;
  std::vector<JoinLine> joins_;
  std::vector<std::pair<int, std::string>> errors_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int line_ = 0;
  int master_line_ = 0;
};

}  // namespace

ScenarioParse parse_scenario_file(std::string_view text, std::string file) {
  Parser parser(std::move(file));
  return parser.parse(text);
}

ScenarioParse read_scenario_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    ScenarioParse out;
    out.errors.push_back(fmt::format("{}: cannot read the file", path));
    return out;
  }
  return parse_scenario_file(text.str(), path);
}

}  // namespace praetor::sim
