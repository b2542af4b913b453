// Property: the FSM agrees with a trivially correct model (a std::map) under random command
// sequences, and a snapshot taken at any point restores to an identical state.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>

#include "core/catalog/fsm.hpp"

namespace praetor::catalog {
namespace {

struct ModelEntry {
  std::string value;
  std::uint64_t modify = 0;
};

RC_GTEST_PROP(Fsm, AgreesWithAMapModel, ()) {
  const auto ops = *rc::gen::container<std::vector<std::tuple<int, int, int, int>>>(
      rc::gen::tuple(rc::gen::inRange(0, 5), rc::gen::inRange(0, 6), rc::gen::inRange(0, 4),
                     rc::gen::inRange(0, 8)));
  Fsm fsm;
  std::map<std::string, ModelEntry> model;
  std::uint64_t index = 0;
  for (const auto& [op, key_n, value_n, cas_n] : ops) {
    const std::string key = (key_n < 3 ? "dir/" : "") + std::to_string(key_n);
    const std::string value = "v" + std::to_string(value_n);
    ++index;
    Command command;
    bool expected = true;
    switch (op) {
      case 0:
        command = KvSet{key, to_bytes(value), 0};
        model[key] = {value, index};
        break;
      case 1: {
        auto it = model.find(key);
        const std::uint64_t cas = cas_n == 0 ? 0 : (it != model.end() && cas_n < 4 ? it->second.modify : index + 9);
        command = KvCas{key, to_bytes(value), 0, cas};
        expected = cas == 0 ? it == model.end() : (it != model.end() && it->second.modify == cas);
        if (expected) model[key] = {value, index};
        break;
      }
      case 2:
        command = KvDelete{key};
        model.erase(key);
        break;
      case 3: {
        auto it = model.find(key);
        const std::uint64_t cas = it != model.end() && cas_n < 4 ? it->second.modify : cas_n;
        command = KvDeleteCas{key, cas};
        expected = it != model.end() && it->second.modify == cas;
        if (expected) model.erase(it);
        break;
      }
      default:
        command = KvDeleteTree{"dir/"};
        for (auto it = model.begin(); it != model.end();) {
          it = it->first.starts_with("dir/") ? model.erase(it) : std::next(it);
        }
        break;
    }
    const ApplyResult result = fsm.apply(LogIndex(index), encode_command(command), Instant::zero());
    RC_ASSERT(result.success == expected);
    fsm.check_invariants();
  }
  RC_ASSERT(fsm.kv().entries().size() == model.size());
  for (const auto& [key, m] : model) {
    const KvEntry* e = fsm.kv().get(key);
    RC_ASSERT(e != nullptr);
    RC_ASSERT(to_string(e->value) == m.value);
    RC_ASSERT(e->modify_index == m.modify);
  }
  Fsm restored;
  RC_ASSERT(restored.restore(fsm.snapshot()).has_value());
  RC_ASSERT(restored.kv().entries() == fsm.kv().entries());
}

}  // namespace
}  // namespace praetor::catalog
