#include "cmd/praetor/go_flags.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace praetor::cmd {

std::optional<bool> parse_go_bool(std::string_view text) {
  if (text == "1" || text == "t" || text == "T" || text == "true" || text == "TRUE" ||
      text == "True") {
    return true;
  }
  if (text == "0" || text == "f" || text == "F" || text == "false" || text == "FALSE" ||
      text == "False") {
    return false;
  }
  return std::nullopt;
}

void FlagSet::add(std::string name, std::string usage, Setter set, bool is_bool) {
  flags_.push_back(Flag{std::move(name), std::move(usage), std::move(set), is_bool});
}

void FlagSet::add_string(std::string name, std::string* out, std::string usage) {
  add(std::move(name), std::move(usage), [out](const std::string& v) -> std::optional<std::string> {
    *out = v;
    return std::nullopt;
  });
}

void FlagSet::add_strings(std::string name, std::vector<std::string>* out, std::string usage) {
  add(std::move(name), std::move(usage), [out](const std::string& v) -> std::optional<std::string> {
    out->push_back(v);
    return std::nullopt;
  });
}

void FlagSet::add_bool(std::string name, bool* out, std::string usage) {
  add(
      std::move(name), std::move(usage),
      [out](const std::string& v) -> std::optional<std::string> {
        const auto b = parse_go_bool(v);
        if (!b) return "parse error";
        *out = *b;
        return std::nullopt;
      },
      /*is_bool=*/true);
}

void FlagSet::add_uint64(std::string name, std::uint64_t* out, std::string usage) {
  add(std::move(name), std::move(usage), [out](const std::string& v) -> std::optional<std::string> {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty()) return "parse error";
    *out = n;
    return std::nullopt;
  });
}

void FlagSet::add_int(std::string name, std::int64_t* out, std::string usage) {
  add(std::move(name), std::move(usage), [out](const std::string& v) -> std::optional<std::string> {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || v.empty()) return "parse error";
    *out = n;
    return std::nullopt;
  });
}

const FlagSet::Flag* FlagSet::find(std::string_view name) const {
  for (const auto& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

bool FlagSet::was_set(std::string_view name) const {
  return std::find(set_.begin(), set_.end(), name) != set_.end();
}

Result<std::vector<std::string>> FlagSet::parse(std::span<const std::string> args) {
  auto fail = [](std::string text) { return make_error(ErrorCode::kInvalidArgument, text); };
  std::size_t i = 0;
  while (i < args.size()) {
    const std::string& arg = args[i];
    if (arg.size() < 2 || arg[0] != '-') break;  // "-" alone and positionals end the flags
    std::string_view body(arg);
    body.remove_prefix(1);
    if (body[0] == '-') {
      body.remove_prefix(1);
      if (body.empty()) {  // "--" terminates the flags
        ++i;
        break;
      }
    }
    if (body.empty() || body[0] == '-' || body[0] == '=') {
      return fail(fmt::format("bad flag syntax: {}", arg));
    }
    ++i;
    std::string name(body);
    std::optional<std::string> value;
    if (const auto eq = body.find('='); eq != std::string_view::npos) {
      name = std::string(body.substr(0, eq));
      value = std::string(body.substr(eq + 1));
    }
    const Flag* flag = find(name);
    if (flag == nullptr) {
      if (name == "h" || name == "help") return fail("help");
      return fail(fmt::format("flag provided but not defined: -{}", name));
    }
    if (!value) {
      if (flag->is_bool) {
        value = "true";
      } else if (i < args.size()) {
        value = args[i++];
      } else {
        return fail(fmt::format("flag needs an argument: -{}", name));
      }
    }
    if (auto err = flag->set(*value)) {
      return fail(fmt::format("invalid value \"{}\" for flag -{}: {}", *value, name, *err));
    }
    set_.push_back(name);
  }
  return std::vector<std::string>(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
}

std::string FlagSet::usage() const {
  std::vector<const Flag*> sorted;
  for (const auto& f : flags_) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(),
            [](const Flag* a, const Flag* b) { return a->name < b->name; });
  std::string out;
  for (const Flag* f : sorted) {
    out += fmt::format("  -{}{}\n     {}\n\n", f->name, f->is_bool ? "" : "=<value>", f->usage);
  }
  return out;
}

}  // namespace praetor::cmd
