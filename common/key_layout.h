// key_layout: every Store key the launcher and the workers share, in one place
// (the table in docs/protocol.md#key-layout is this file in prose).
//
// Every key of attempt N lives under AttemptPrefix(run_id, N) =
// "<run_id>/a<N>/", so a restarted attempt can never read a stale key left by
// an earlier one. The launcher's node rendezvous owns the attempt's own keys;
// the attempt's workers own everything under WorkerPrefix ("<run_id>/a<N>/w/").
// Values are the records of common/records.h, or decimal counters (Add).
#ifndef TPLAUNCH_COMMON_KEY_LAYOUT_H_
#define TPLAUNCH_COMMON_KEY_LAYOUT_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tplaunch {

// "<run_id>/attempt": the highest attempt any node has entered (decimal).
// Outside every attempt's prefix (as HostedServerKey): a launcher starting late
// reads it to find the attempt to join.
inline std::string AttemptCounterKey(absl::string_view run_id) {
  return absl::StrCat(run_id, "/attempt");
}

// "<run_id>/hosted": set by the node whose tplaunch hosts the rendezvous
// server of --rdzv-endpoint itself (no tprdzvd there; launcher/topology): the
// port of that server's TCPStore listener (decimal; "0" without one), which
// --torch-store agent points every node's workers at. Its presence also tells
// the other nodes that the server leaves with that node, which waits for
// their `left` heartbeats (launcher/topology/job_leave.h). Outside the
// attempts' prefixes like the attempt counter: the server lives as long as
// the job.
inline std::string HostedServerKey(absl::string_view run_id) {
  return absl::StrCat(run_id, "/hosted");
}

// "<run_id>/a<N>/". A worker given a caller's store has no run id: its keys
// start at "a<N>/".
inline std::string AttemptPrefix(absl::string_view run_id, int attempt) {
  return absl::StrCat(run_id, run_id.empty() ? "" : "/", "a", attempt, "/");
}

// The node rendezvous (launcher/node_rendezvous.h), all under AttemptPrefix.

// Join counter (Add(1) per node): the value after a node's Add, minus one, is
// its slot (arrival order). Slots are never reused: a withdrawn or reclaimed
// slot stays taken and is skipped.
inline std::string JoinCountKey(absl::string_view run_id, int attempt) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "count");
}
// The NodeInfo record of the node in `slot`.
inline std::string NodeKey(absl::string_view run_id, int attempt, int slot) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "node/", slot);
}
// The HeartbeatRecord of the node in `slot`.
inline std::string HeartbeatKey(absl::string_view run_id, int attempt,
                                int slot) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "hb/", slot);
}
// What the joining nodes expect, for the live view (the daemon does not know
// --nnodes): every node sets it, before taking its slot, to ASCII
// "MIN MAX LAST_CALL_MS" (--nnodes MIN:MAX, --rdzv-last-call in ms).
inline std::string ExpectKey(absl::string_view run_id, int attempt) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "expect");
}
// The ClosedRecord: the participants' (slot, id) pairs (CompareSet, set once);
// every other node is late.
inline std::string ClosedKey(absl::string_view run_id, int attempt) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "closed");
}
// The GoneRecord of a slot that no longer counts: its node withdrew (left the
// rendezvous) or a peer reclaimed it (stale heartbeat).
inline std::string GoneKey(absl::string_view run_id, int attempt, int slot) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "gone/", slot);
}
// The MasterRecord node 0 publishes.
inline std::string MasterKey(absl::string_view run_id, int attempt) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "master");
}
// Exit barrier: the node in `slot` sets it (to its NodeInfo::id) once its
// workers all succeeded. One key per node rather than one counter, so a node
// can re-assert its own arrival when the store lost it (a daemon restarted
// without --state-dir) and the barrier still completes.
inline std::string DoneKey(absl::string_view run_id, int attempt, int slot) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "done/", slot);
}
// The AttemptEnd record (CompareSet: the first report wins).
inline std::string EndKey(absl::string_view run_id, int attempt) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "end");
}
// Nodes that arrived after the attempt closed (Add(1) each).
inline std::string LateKey(absl::string_view run_id, int attempt) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "late");
}

// The workers' part: "<run_id>/a<N>/w/". The launcher never writes below it.
inline std::string WorkerPrefix(absl::string_view run_id, int attempt) {
  return absl::StrCat(AttemptPrefix(run_id, attempt), "w/");
}

// One process group's keys, "<run_id>/a<N>/w/<group>", without a trailing '/'
// because PrefixStore adds it. worker_lib appends "/g<generation>" when a
// process re-creates a group of the same name within one attempt.
inline std::string GroupPrefix(absl::string_view run_id, int attempt,
                               absl::string_view group_name) {
  return absl::StrCat(WorkerPrefix(run_id, attempt), group_name);
}

// Inside a group's PrefixStore (worker_lib):
// "join/<rank>": the rank's MemberRecord (CompareSet: a rank is claimed once).
inline constexpr char kGroupJoinPrefix[] = "join/";
// "fail/<rank>": why the rank's init failed, for peers to abort at once.
inline constexpr char kGroupFailPrefix[] = "fail/";
// "exit/<rank>": the rank closed its Gloo group (teardown barrier).
inline constexpr char kGroupExitPrefix[] = "exit/";

inline std::string GroupJoinKey(int rank) {
  return absl::StrCat(kGroupJoinPrefix, rank);
}
inline std::string GroupFailKey(int rank) {
  return absl::StrCat(kGroupFailPrefix, rank);
}
inline std::string GroupExitKey(int rank) {
  return absl::StrCat(kGroupExitPrefix, rank);
}
// "nccl/id/<root>": the ncclUniqueId of NCCL root `root` (worker_lib's
// nccl_id_broker; one root per kNcclRanksPerRoot ranks).
inline constexpr char kGroupNcclIdPrefix[] = "nccl/id/";
inline std::string GroupNcclIdKey(int root) {
  return absl::StrCat(kGroupNcclIdPrefix, root);
}

}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_KEY_LAYOUT_H_
