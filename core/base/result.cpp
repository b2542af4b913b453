#include "core/base/result.hpp"

namespace praetor {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kAlreadyExists: return "already exists";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kTooLarge: return "too large";
    case ErrorCode::kCorruption: return "corruption";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kNotLeader: return "not leader";
    case ErrorCode::kNoLeader: return "no cluster leader";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown";
}

}  // namespace praetor
