#include "sim/checkers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "core/base/assert.hpp"

namespace praetor::sim {

namespace {

using State = std::optional<std::string>;

std::string show(const State& s) { return s ? "\"" + *s + "\"" : "absent"; }

// The register model: whether `op` may take effect in `state`, and the state after it.
bool step(const State& state, const KvOp& op, State& next) {
  next = state;
  switch (op.kind) {
    case KvOp::Kind::kPut:
      next = op.value;
      return true;
    case KvOp::Kind::kDelete:
      next = std::nullopt;
      return true;
    case KvOp::Kind::kGet:
      return state == op.read;
    case KvOp::Kind::kCas:
      if (op.outcome == KvOp::Outcome::kUnknown) {
        if (state == op.expected) next = op.value;
        return true;
      }
      if (op.swapped) {
        if (state != op.expected) return false;
        next = op.value;
        return true;
      }
      return state != op.expected;
  }
  return false;
}

// The key-space model of check_txn_linearizable.
using TxnState = std::map<std::string, std::string>;

// Runs txn's ops in order on a copy of state: the failing op indexes, and the state after them
// (meaningful when none failed). reads gets what each kGet read.
std::vector<std::size_t> run_txn(const TxnState& state, const KvTxn& txn, TxnState& after,
                                 std::vector<std::optional<std::string>>& reads) {
  after = state;
  reads.assign(txn.ops.size(), std::nullopt);
  std::vector<std::size_t> failed;
  for (std::size_t i = 0; i < txn.ops.size(); ++i) {
    const TxnSubOp& op = txn.ops[i];
    auto it = after.find(op.key);
    const std::optional<std::string> current =
        it == after.end() ? std::nullopt : std::optional<std::string>(it->second);
    switch (op.verb) {
      case TxnSubOp::Verb::kSet:
        after[op.key] = op.value;
        break;
      case TxnSubOp::Verb::kCas:
        if (current != op.expected) {
          failed.push_back(i);
        } else {
          after[op.key] = op.value;
        }
        break;
      case TxnSubOp::Verb::kGet:
        if (!current) {
          failed.push_back(i);
        } else {
          reads[i] = current;
        }
        break;
      case TxnSubOp::Verb::kCheckIndex:
        if (!current || current != op.expected) failed.push_back(i);
        break;
      case TxnSubOp::Verb::kDelete:
        if (it != after.end()) after.erase(it);
        break;
      case TxnSubOp::Verb::kDeleteCas:
        if (!current || current != op.expected) {
          failed.push_back(i);
        } else {
          after.erase(it);
        }
        break;
    }
  }
  return failed;
}

bool step(const TxnState& state, const KvTxn& txn, TxnState& next) {
  TxnState after;
  std::vector<std::optional<std::string>> reads;
  const std::vector<std::size_t> failed = run_txn(state, txn, after, reads);
  switch (txn.outcome) {
    case KvTxn::Outcome::kOk:
      if (!failed.empty()) return false;
      for (std::size_t i = 0; i < txn.ops.size(); ++i) {
        if (txn.ops[i].verb == TxnSubOp::Verb::kGet && reads[i] != txn.reads[i]) return false;
      }
      next = std::move(after);
      return true;
    case KvTxn::Outcome::kConflict:
      if (failed != txn.failed) return false;
      next = state;
      return true;
    case KvTxn::Outcome::kUnknown:
      next = failed.empty() ? std::move(after) : state;
      return true;
  }
  return false;
}

bool is_unknown(const KvTxn& txn) { return txn.outcome == KvTxn::Outcome::kUnknown; }

bool is_unknown(const KvOp& op) { return op.outcome == KvOp::Outcome::kUnknown; }

// One call or return event in the doubly linked list the search lifts entries out of.
struct Entry {
  bool call = true;
  std::size_t op = 0;
  std::int64_t time = 0;
  std::size_t match = 0;  // the partner entry
  std::size_t prev = 0;
  std::size_t next = 0;
};
constexpr std::size_t kNil = static_cast<std::size_t>(-1);

template <typename Op, typename St>
class Search {
 public:
  explicit Search(const std::vector<const Op*>& ops) : ops_(ops) { build(); }

  // 1 = linearizable, 0 = not, -1 = budget exhausted.
  int run(std::uint64_t& budget) {
    std::vector<std::uint64_t> linearized((ops_.size() + 63) / 64, 0);
    std::set<std::pair<std::vector<std::uint64_t>, St>> cache;
    std::vector<std::pair<std::size_t, St>> calls;
    St state{};
    std::size_t entry = list_[0].next;
    while (list_[0].next != kNil) {
      if (budget-- == 0) return -1;
      PRAETOR_ASSERT(entry != kNil);
      Entry& e = list_[entry];
      if (e.call) {
        St next;
        if (step(state, *ops_[e.op], next)) {
          auto lin = linearized;
          lin[e.op / 64] |= std::uint64_t{1} << (e.op % 64);
          if (cache.emplace(lin, next).second) {
            calls.emplace_back(entry, state);
            state = std::move(next);
            linearized = std::move(lin);
            lift(entry);
            entry = list_[0].next;
            continue;
          }
        }
        entry = e.next;
      } else {
        if (calls.empty()) return 0;
        auto [back, prior] = std::move(calls.back());
        calls.pop_back();
        state = std::move(prior);
        linearized[list_[back].op / 64] &= ~(std::uint64_t{1} << (list_[back].op % 64));
        unlift(back);
        entry = list_[back].next;
      }
    }
    return 1;
  }

 private:
  void build() {
    std::vector<Entry> events;
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      const Op& op = *ops_[i];
      std::int64_t ret = is_unknown(op) ? Instant::never().ns() : op.ret.ns();
      events.push_back(Entry{true, i, op.call.ns(), 0, 0, 0});
      events.push_back(Entry{false, i, ret, 0, 0, 0});
    }
    // Calls sort before returns at the same instant: touching operations count as concurrent,
    // which can only make the checker more lenient, never report a false violation.
    std::stable_sort(events.begin(), events.end(), [](const Entry& a, const Entry& b) {
      if (a.time != b.time) return a.time < b.time;
      return a.call && !b.call;
    });
    list_.assign(1, Entry{});  // sentinel head
    std::vector<std::size_t> call_at(ops_.size(), 0);
    for (const Entry& e : events) {
      list_.push_back(e);
      std::size_t at = list_.size() - 1;
      if (e.call) {
        call_at[e.op] = at;
      } else {
        list_[at].match = call_at[e.op];
        list_[call_at[e.op]].match = at;
      }
    }
    for (std::size_t i = 0; i < list_.size(); ++i) {
      list_[i].prev = i == 0 ? kNil : i - 1;
      list_[i].next = i + 1 < list_.size() ? i + 1 : kNil;
    }
  }

  void unlink(std::size_t i) {
    list_[list_[i].prev].next = list_[i].next;
    if (list_[i].next != kNil) list_[list_[i].next].prev = list_[i].prev;
  }
  void relink(std::size_t i) {
    list_[list_[i].prev].next = i;
    if (list_[i].next != kNil) list_[list_[i].next].prev = i;
  }
  void lift(std::size_t call) {
    unlink(call);
    unlink(list_[call].match);
  }
  void unlift(std::size_t call) {
    relink(list_[call].match);
    relink(call);
  }

  const std::vector<const Op*>& ops_;
  std::vector<Entry> list_;
};

std::string describe_key(const std::string& key, const std::vector<const KvOp*>& ops) {
  std::string out = fmt::format("key {}: {} operations are not linearizable:\n", key, ops.size());
  std::vector<const KvOp*> sorted = ops;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const KvOp* a, const KvOp* b) { return a->call < b->call; });
  std::size_t shown = 0;
  for (const KvOp* op : sorted) {
    if (++shown > 60) {
      out += fmt::format("  ... {} more\n", sorted.size() - 60);
      break;
    }
    out += "  " + render_op(*op) + "\n";
  }
  return out;
}

}  // namespace

std::string render_op(const KvOp& op) {
  std::string ret = op.outcome == KvOp::Outcome::kUnknown ? "?" : fmt::format("{}", op.ret);
  std::string what;
  switch (op.kind) {
    case KvOp::Kind::kPut:
      what = fmt::format("put {} {}", op.key, show(op.value));
      break;
    case KvOp::Kind::kDelete:
      what = fmt::format("delete {}", op.key);
      break;
    case KvOp::Kind::kGet:
      what = fmt::format("get {}", op.key);
      break;
    case KvOp::Kind::kCas:
      what = fmt::format("cas {} {} -> {}", op.key, show(op.expected), show(op.value));
      break;
  }
  std::string result;
  switch (op.outcome) {
    case KvOp::Outcome::kFail:
      result = "fail";
      break;
    case KvOp::Outcome::kUnknown:
      result = "unknown";
      break;
    case KvOp::Outcome::kOk:
      if (op.kind == KvOp::Kind::kGet) {
        result = show(op.read);
      } else if (op.kind == KvOp::Kind::kCas) {
        result = op.swapped ? "swapped" : "not swapped";
      } else {
        result = "ok";
      }
      break;
  }
  return fmt::format("[{} .. {}] c{} {} => {}", op.call, ret, op.client, what, result);
}

CheckResult check_kv_linearizable(const std::vector<KvOp>& history, std::uint64_t max_steps) {
  CheckResult result;
  std::map<std::string, std::vector<const KvOp*>> by_key;
  for (const KvOp& op : history) {
    if (op.outcome == KvOp::Outcome::kFail) continue;
    if (op.kind == KvOp::Kind::kGet && op.outcome == KvOp::Outcome::kUnknown) continue;
    by_key[op.key].push_back(&op);
    ++result.ops;
  }
  result.keys = by_key.size();
  std::uint64_t budget = max_steps;
  for (const auto& [key, ops] : by_key) {
    Search<KvOp, State> search(ops);
    int verdict = search.run(budget);
    if (verdict == 1) continue;
    result.ok = false;
    result.exhausted = verdict < 0;
    result.detail =
        verdict < 0 ? fmt::format("key {}: search budget of {} steps exhausted\n", key, max_steps)
                    : describe_key(key, ops);
    return result;
  }
  return result;
}

std::string render_txn(const KvTxn& txn) {
  std::string ret = txn.outcome == KvTxn::Outcome::kUnknown ? "?" : fmt::format("{}", txn.ret);
  std::string ops;
  for (std::size_t i = 0; i < txn.ops.size(); ++i) {
    const TxnSubOp& op = txn.ops[i];
    if (!ops.empty()) ops += "; ";
    switch (op.verb) {
      case TxnSubOp::Verb::kSet:
        ops += fmt::format("set {} {}", op.key, show(op.value));
        break;
      case TxnSubOp::Verb::kCas:
        ops += fmt::format("cas {} {} -> {}", op.key, show(op.expected), show(op.value));
        break;
      case TxnSubOp::Verb::kGet:
        ops += fmt::format("get {}", op.key);
        if (txn.outcome == KvTxn::Outcome::kOk && i < txn.reads.size()) {
          ops += " = " + show(txn.reads[i]);
        }
        break;
      case TxnSubOp::Verb::kCheckIndex:
        ops += fmt::format("check-index {} {}", op.key, show(op.expected));
        break;
      case TxnSubOp::Verb::kDelete:
        ops += fmt::format("delete {}", op.key);
        break;
      case TxnSubOp::Verb::kDeleteCas:
        ops += fmt::format("delete-cas {} {}", op.key, show(op.expected));
        break;
    }
  }
  std::string result;
  switch (txn.outcome) {
    case KvTxn::Outcome::kOk:
      result = "ok";
      break;
    case KvTxn::Outcome::kUnknown:
      result = "unknown";
      break;
    case KvTxn::Outcome::kConflict:
      result = "409 failing ops";
      for (std::size_t f : txn.failed) result += fmt::format(" {}", f);
      break;
  }
  return fmt::format("[{} .. {}] c{} [{}] => {}", txn.call, ret, txn.client, ops, result);
}

CheckResult check_txn_linearizable(const std::vector<KvTxn>& history, std::uint64_t max_steps) {
  CheckResult result;
  std::vector<const KvTxn*> ops;
  std::set<std::string> keys;
  for (const KvTxn& txn : history) {
    const bool writes = std::any_of(txn.ops.begin(), txn.ops.end(), [](const TxnSubOp& op) {
      return op.verb != TxnSubOp::Verb::kGet && op.verb != TxnSubOp::Verb::kCheckIndex;
    });
    if (txn.outcome == KvTxn::Outcome::kUnknown && !writes) continue;
    ops.push_back(&txn);
    for (const auto& op : txn.ops) keys.insert(op.key);
  }
  result.ops = ops.size();
  result.keys = keys.size();
  if (ops.empty()) return result;
  std::uint64_t budget = max_steps;
  Search<KvTxn, TxnState> search(ops);
  const int verdict = search.run(budget);
  if (verdict == 1) return result;
  result.ok = false;
  result.exhausted = verdict < 0;
  if (verdict < 0) {
    result.detail = fmt::format("search budget of {} steps exhausted\n", max_steps);
    return result;
  }
  std::vector<const KvTxn*> sorted = ops;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const KvTxn* a, const KvTxn* b) { return a->call < b->call; });
  result.detail = fmt::format("{} transactions are not linearizable:\n", sorted.size());
  std::size_t shown = 0;
  for (const KvTxn* txn : sorted) {
    if (++shown > 80) {
      result.detail += fmt::format("  ... {} more\n", sorted.size() - 80);
      break;
    }
    result.detail += "  " + render_txn(*txn) + "\n";
  }
  return result;
}

}  // namespace praetor::sim
