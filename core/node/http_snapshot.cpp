// /v1/snapshot (consul-compat: Consul's snapshot endpoint, with our own archive format; see
// catalog/archive.hpp and decision D41).
//
// GET runs on the leader after a ReadIndex round (or on any server with ?stale) and answers
// the whole replicated state as an archive: a header with the applied index and its term, the
// catalog's snapshot image (D27), and a SHA-256 over both. X-Consul-Index is that index.
//
// PUT restores one. The archive is checked whole here (magic, version, length, checksum, and
// the image decoded as its apply will decode it), so a truncated, altered or foreign file is a
// 400 that never reaches the log. A good one becomes one catalog::Restore entry carrying the
// image: every replica applies it at the same index N and ends with the same tables, every index
// rebased to N, so the blocking-query invariant (an index a client has seen never goes back)
// holds and every parked read wakes. What is the leader's alone and not replicated follows on
// the leader that answers: session TTL timers restart, and a reconcile pass puts the live
// gossip members back into the catalog.
#include <fmt/format.h>

#include "core/base/limits.hpp"
#include "core/catalog/archive.hpp"
#include "core/node/agent.hpp"
#include "core/raft/config.hpp"

namespace praetor::node {
namespace {

// A Restore entry is [type][version][length prefix][image]: it must fit in one Raft entry, and an
// archive of the largest image in one HTTP body (limits.hpp).
static_assert(limits::kSnapshotMaxStateBytes + 64 < raft::kMaxEntryBytes,
              "a restore of the largest image fits in one Raft entry");
static_assert(limits::kSnapshotMaxStateBytes + catalog::kArchiveHeaderBytes +
                      catalog::kArchiveDigestBytes <=
                  limits::kHttpMaxBodyBytes,
              "an archive of the largest image fits in one request body");

std::string too_large(std::size_t bytes) {
  return fmt::format(
      "Snapshot state is {} bytes, over the limit of {} bytes: a restore must fit in one Raft "
      "entry (see docs/http-api.md, Snapshots)",
      bytes, limits::kSnapshotMaxStateBytes);
}

}  // namespace

void Agent::snapshot_save(RequestId id, HttpRequest& request) {
  Bytes state = fsm_.snapshot();
  if (state.size() > limits::kSnapshotMaxStateBytes) {
    // Refused rather than handed out: an archive that no restore can take is a trap.
    respond(id, HttpResponse::text(500, too_large(state.size())));
    return;
  }
  catalog::ArchiveMeta meta;
  meta.index = fsm_.applied_index().value();
  // The term of the entry the state reflects; a server that applied nothing yet has term 0.
  if (raft_) meta.term = raft_->log().term_at(fsm_.applied_index()).value_or(Term(0)).value();
  meta.created_unix_ms = env_->clock.wall().unix_ns / 1'000'000;
  const Bytes archive = catalog::write_archive(meta, state);
  HttpResponse response;
  response.status = 200;
  response.set_header("Content-Type", "application/octet-stream");
  if (request.method != "HEAD") response.body.assign(archive.begin(), archive.end());
  decorate(response, meta.index);
  response.set_header("X-Consul-Effective-Consistency",
                      request.has_query("stale") ? "stale" : "leader");
  env_->logger.info("snapshot", "saved snapshot {} ({} bytes) at index {}", meta.id(),
                    archive.size(), meta.index);
  respond(id, std::move(response));
}

void Agent::snapshot_restore(RequestId id, HttpRequest& request) {
  const ByteView body(reinterpret_cast<const std::uint8_t*>(request.body.data()),
                      request.body.size());
  auto archive = catalog::read_archive(body);
  if (!archive) {
    respond(id, HttpResponse::text(400, "Snapshot refused: " + archive.error().message));
    return;
  }
  if (archive->state.size() > limits::kSnapshotMaxStateBytes) {
    respond(id, HttpResponse::text(413, too_large(archive->state.size())));
    return;
  }
  if (auto checked = catalog::Fsm::check_restore_image(archive->state); !checked) {
    respond(id, HttpResponse::text(400, "Snapshot refused: the archive's state does not decode: " +
                                            checked.error().message));
    return;
  }
  env_->logger.info("snapshot", "restoring snapshot {} (taken at index {}, {} bytes of state)",
                    archive->meta.id(), archive->meta.index, archive->state.size());
  commit(id, catalog::Restore{std::move(archive->state)},
         [this](const catalog::ApplyResult& result) {
           if (!result.error.empty()) return HttpResponse::text(500, result.error);
           // The leader's own state that the tables do not carry. Every TTL session of the image
           // gets a full 2 x TTL from now, as after an election (D31); the catalog gets the live
           // gossip members back at once rather than at the next periodic pass (D32).
           session_timers_.clear();
           session_timers_stale_ = true;
           schedule_reconcile(env_->clock.now());
           env_->logger.info("snapshot", "restored snapshot at index {}", fsm_.applied_index());
           return HttpResponse::json(200, "");
         });
}

}  // namespace praetor::node
