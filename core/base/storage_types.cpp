#include "core/base/storage_types.hpp"

#include "core/base/assert.hpp"

namespace praetor {

void apply_write_op(StoredFiles& files, const WriteOp& op) {
  switch (op.kind) {
    case WriteOp::Kind::kAppend: {
      Bytes& file = files[op.file];
      file.insert(file.end(), op.data.begin(), op.data.end());
      return;
    }
    case WriteOp::Kind::kReplace:
      files[op.file] = op.data;
      return;
    case WriteOp::Kind::kRemove:
      files.erase(op.file);
      return;
    case WriteOp::Kind::kTruncate:
      files[op.file].resize(op.size, 0);
      return;
  }
  PRAETOR_UNREACHABLE();
}

}  // namespace praetor
