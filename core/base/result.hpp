// Result<T>: the return type of every operation that can fail for an expected reason (bad input,
// I/O, not leader, CAS mismatch). Shaped like std::expected so C++23 can replace it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/base/assert.hpp"

namespace praetor {

enum class ErrorCode {
  kInvalidArgument,  // malformed input: bad JSON, bad flag, bad packet
  kNotFound,
  kAlreadyExists,
  kConflict,         // CAS mismatch, lock held
  kTooLarge,         // over a named limit
  kCorruption,       // checksum mismatch, torn record in the middle of a log
  kIo,               // the host reported an I/O failure
  kNotLeader,
  kNoLeader,
  kTimeout,
  kUnavailable,
  kInternal,
};

std::string_view error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  friend bool operator==(const Error&, const Error&) = default;
};

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool has_value() const { return storage_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    PRAETOR_ASSERT_MSG(has_value(), "value() on an error: {}", std::get<1>(storage_).message);
    return std::get<0>(storage_);
  }
  const T& value() const& {
    PRAETOR_ASSERT_MSG(has_value(), "value() on an error: {}", std::get<1>(storage_).message);
    return std::get<0>(storage_);
  }
  T&& value() && {
    PRAETOR_ASSERT_MSG(has_value(), "value() on an error: {}", std::get<1>(storage_).message);
    return std::get<0>(std::move(storage_));
  }
  const Error& error() const {
    PRAETOR_ASSERT(!has_value());
    return std::get<1>(storage_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> storage_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const { PRAETOR_ASSERT_MSG(ok_, "value() on an error: {}", error_.message); }
  const Error& error() const {
    PRAETOR_ASSERT(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> ok() { return Result<void>(); }

}  // namespace praetor

// Propagates an error from an expression yielding Result<T>; otherwise evaluates to nothing.
#define PRAETOR_TRY_VOID(expr)                  \
  do {                                          \
    auto praetor_try_result_ = (expr);          \
    if (!praetor_try_result_) {                 \
      return praetor_try_result_.error();       \
    }                                           \
  } while (false)
