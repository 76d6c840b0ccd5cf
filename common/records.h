// records: the values stored under common/key_layout.h's keys, one codec for
// all of them (the launcher's join, gone, closed, heartbeat, master and end
// records, and worker_lib's group member record).
//
// Wire form: a tag naming the record kind and version ("node/v1"), then each
// field preceded by a tab and C-escaped (absl::CEscape), so host names and
// failure reasons may hold any byte, tabs and newlines included. Only two
// tplaunch of the same version need to understand each other: Decode answers
// InvalidArgument, naming the record kind and the key, for anything else (a
// launcher of another version in the same job, a key a user overwrote).
//
// Header-only and Abseil-only: worker_lib and the launcher both link it.
#ifndef TPLAUNCH_COMMON_RECORDS_H_
#define TPLAUNCH_COMMON_RECORDS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace tplaunch {
namespace records_internal {

inline std::string EncodeFields(absl::string_view tag,
                                std::initializer_list<absl::string_view> f) {
  std::string out(tag);
  for (absl::string_view field : f) {
    out.push_back('\t');
    out += absl::CEscape(field);
  }
  return out;
}

inline absl::Status Malformed(absl::string_view kind, absl::string_view key,
                              absl::string_view text, absl::string_view why) {
  constexpr size_t kShown = 200;  // A garbage value may be megabytes.
  return absl::InvalidArgumentError(absl::StrCat(
      "malformed ", kind, " record at key '", absl::CHexEscape(key), "': ", why,
      " (value '", absl::CHexEscape(text.substr(0, kShown)),
      text.size() > kShown ? "...'" : "'",
      "; a tplaunch of another version in the same job?)"));
}

// The unescaped fields after `tag`, however many there are.
inline absl::StatusOr<std::vector<std::string>> DecodeAllFields(
    absl::string_view kind, absl::string_view tag, absl::string_view key,
    absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '\t');
  if (parts[0] != tag) {
    return Malformed(kind, key, text,
                     absl::StrCat("does not start with '", tag, "'"));
  }
  std::vector<std::string> fields(parts.size() - 1);
  for (size_t i = 0; i < fields.size(); ++i) {
    if (!absl::CUnescape(parts[i + 1], &fields[i])) {
      return Malformed(kind, key, text,
                       absl::StrCat("field ", i + 1, " is not C-escaped"));
    }
  }
  return fields;
}

inline absl::Status CheckFieldCount(absl::string_view kind,
                                    absl::string_view key,
                                    absl::string_view text,
                                    const std::vector<std::string>& fields,
                                    size_t count) {
  if (fields.size() == count) return absl::OkStatus();
  return Malformed(
      kind, key, text,
      absl::StrCat("has ", fields.size(), " field(s), expected ", count));
}

// The unescaped fields after `tag`, exactly `count` of them.
inline absl::StatusOr<std::vector<std::string>> DecodeFields(
    absl::string_view kind, absl::string_view tag, absl::string_view key,
    absl::string_view text, size_t count) {
  absl::StatusOr<std::vector<std::string>> fields =
      DecodeAllFields(kind, tag, key, text);
  if (!fields.ok()) return fields;
  if (absl::Status s = CheckFieldCount(kind, key, text, *fields, count);
      !s.ok()) {
    return s;
  }
  return fields;
}

// Decimal integer field `name`; anything else is Malformed.
template <typename Int>
absl::Status DecodeInt(absl::string_view kind, absl::string_view key,
                       absl::string_view text, absl::string_view name,
                       absl::string_view field, Int* out) {
  if (!absl::SimpleAtoi(field, out)) {
    return Malformed(
        kind, key, text,
        absl::StrCat(name, " '", absl::CHexEscape(field), "' is not a number"));
  }
  return absl::OkStatus();
}

}  // namespace records_internal

// What a launcher says about itself when it joins an attempt (NodeKey).
struct NodeInfo {
  std::string host;         // Host name, for humans.
  std::string addr;         // Advertised address (TPLAUNCH_LOCAL_ADDR).
  int nproc = 1;            // Workers it runs.
  int requested_rank = -1;  // --node-rank, or -1.
  int64_t pid = 0;          // The launcher's pid, for humans and tie-breaks.
  // Random per join, set by NodeRendezvous::Join: tells this node's keys from
  // those of another node given the same slot after the store lost its keys
  // (a daemon restarted without --state-dir).
  std::string id;
  int64_t joined_unix_ms = 0;  // When it joined (its clock), for humans.

  // "hostA (10.0.0.1)"
  std::string Label() const { return absl::StrCat(host, " (", addr, ")"); }

  std::string Encode() const {
    return records_internal::EncodeFields(
        "node/v2",
        {host, addr, absl::StrCat(nproc), absl::StrCat(requested_rank),
         absl::StrCat(pid), id, absl::StrCat(joined_unix_ms)});
  }
  // `key` is where `text` was read, for the error message.
  static absl::StatusOr<NodeInfo> Decode(absl::string_view key,
                                         absl::string_view text) {
    namespace ri = records_internal;
    constexpr absl::string_view kKind = "join";
    absl::StatusOr<std::vector<std::string>> f =
        ri::DecodeFields(kKind, "node/v2", key, text, 7);
    if (!f.ok()) return f.status();
    NodeInfo n;
    n.host = (*f)[0];
    n.addr = (*f)[1];
    n.id = (*f)[5];
    for (absl::Status s :
         {ri::DecodeInt(kKind, key, text, "nproc", (*f)[2], &n.nproc),
          ri::DecodeInt(kKind, key, text, "requested rank", (*f)[3],
                        &n.requested_rank),
          ri::DecodeInt(kKind, key, text, "pid", (*f)[4], &n.pid),
          ri::DecodeInt(kKind, key, text, "join time", (*f)[6],
                        &n.joined_unix_ms)}) {
      if (!s.ok()) return s;
    }
    return n;
  }
};

// Why a slot no longer counts in its attempt's rendezvous (GoneKey): its node
// withdrew (interrupted, failed, timed out) or a peer reclaimed it (no
// heartbeat for --heartbeat-timeout). Written once (CompareSet).
struct GoneRecord {
  std::string node_id;  // NodeInfo::id of the slot's node.
  std::string reason;   // "withdrew: received SIGTERM", "reclaimed by ...".

  std::string Encode() const {
    return records_internal::EncodeFields("gone/v1", {node_id, reason});
  }
  static absl::StatusOr<GoneRecord> Decode(absl::string_view key,
                                           absl::string_view text) {
    absl::StatusOr<std::vector<std::string>> f =
        records_internal::DecodeFields("gone slot", "gone/v1", key, text, 2);
    if (!f.ok()) return f.status();
    GoneRecord g;
    g.node_id = (*f)[0];
    g.reason = (*f)[1];
    return g;
  }
};

// The participants of a closed attempt (ClosedKey; CompareSet, set once): each
// member's slot and NodeInfo::id, in slot order. A node is in the attempt iff
// its (slot, id) is listed; every other node is late.
struct ClosedRecord {
  struct Member {
    int slot = 0;
    std::string id;
  };
  std::vector<Member> members;

  bool Contains(int slot, absl::string_view id) const {
    for (const Member& m : members) {
      if (m.slot == slot && m.id == id) return true;
    }
    return false;
  }

  std::string Encode() const {
    std::string out = "closed/v1";
    for (const Member& m : members) {
      absl::StrAppend(&out, "\t", m.slot, "\t", absl::CEscape(m.id));
    }
    return out;
  }
  static absl::StatusOr<ClosedRecord> Decode(absl::string_view key,
                                             absl::string_view text) {
    namespace ri = records_internal;
    constexpr absl::string_view kKind = "closed";
    absl::StatusOr<std::vector<std::string>> f =
        ri::DecodeAllFields(kKind, "closed/v1", key, text);
    if (!f.ok()) return f.status();
    if (f->empty() || f->size() % 2 != 0) {
      return ri::Malformed(kKind, key, text,
                           "expected (slot, id) pairs, at least one");
    }
    ClosedRecord c;
    for (size_t i = 0; i < f->size(); i += 2) {
      Member m;
      if (absl::Status s =
              ri::DecodeInt(kKind, key, text, "slot", (*f)[i], &m.slot);
          !s.ok()) {
        return s;
      }
      m.id = (*f)[i + 1];
      c.members.push_back(std::move(m));
    }
    return c;
  }
};

// How an attempt ended (EndKey).
struct AttemptEnd {
  enum class Kind {
    kOk,       // Every node's workers succeeded.
    kFailed,   // A failure; nodes restart within --max-restarts.
    kStopped,  // A failure no restart can fix (signal, missing PROGRAM).
    // A node waits to join; restart without counting a restart.
    kMembershipChange,
  };
  Kind kind = Kind::kFailed;
  // The failure's shell-style code (1 for launcher failures).
  int exit_code = 0;
  std::string reason;  // Names node, host, rank and what happened.

  bool ok() const { return kind == Kind::kOk; }

  std::string Encode() const {
    return records_internal::EncodeFields(
        "end/v1", {KindName(kind), absl::StrCat(exit_code), reason});
  }
  static absl::StatusOr<AttemptEnd> Decode(absl::string_view key,
                                           absl::string_view text) {
    namespace ri = records_internal;
    constexpr absl::string_view kKind = "attempt end";
    absl::StatusOr<std::vector<std::string>> f =
        ri::DecodeFields(kKind, "end/v1", key, text, 3);
    if (!f.ok()) return f.status();
    AttemptEnd end;
    bool known = false;
    for (Kind k :
         {Kind::kOk, Kind::kFailed, Kind::kStopped, Kind::kMembershipChange}) {
      if ((*f)[0] == KindName(k)) {
        end.kind = k;
        known = true;
      }
    }
    if (!known) {
      return ri::Malformed(
          kKind, key, text,
          absl::StrCat("unknown kind '", absl::CHexEscape((*f)[0]), "'"));
    }
    if (absl::Status s = ri::DecodeInt(kKind, key, text, "exit code", (*f)[1],
                                       &end.exit_code);
        !s.ok()) {
      return s;
    }
    end.reason = (*f)[2];
    return end;
  }

 private:
  static absl::string_view KindName(Kind kind) {
    switch (kind) {
      case Kind::kOk:
        return "ok";
      case Kind::kFailed:
        return "fail";
      case Kind::kStopped:
        return "stop";
      case Kind::kMembershipChange:
        return "member";
    }
    return "fail";
  }
};

// MASTER_ADDR/MASTER_PORT of an attempt, published by node 0 (MasterKey); or
// why node 0 could not prepare the attempt (reserving the port, emptying the
// agent store), so the other nodes fail at once with node 0's reason instead of
// waiting out --rdzv-timeout.
struct MasterRecord {
  std::string addr;
  int port = 0;
  // Set when node 0 failed; addr and port are then meaningless.
  std::optional<std::string> failure;

  std::string Encode() const {
    if (failure.has_value()) {
      return records_internal::EncodeFields("master/v1", {"fail", *failure});
    }
    return records_internal::EncodeFields("master/v1",
                                          {"ok", addr, absl::StrCat(port)});
  }
  static absl::StatusOr<MasterRecord> Decode(absl::string_view key,
                                             absl::string_view text) {
    namespace ri = records_internal;
    constexpr absl::string_view kKind = "master";
    absl::StatusOr<std::vector<std::string>> f =
        ri::DecodeAllFields(kKind, "master/v1", key, text);
    if (!f.ok()) return f.status();
    MasterRecord m;
    const std::string state = f->empty() ? "" : (*f)[0];
    // Two shapes: "fail <reason>" and "ok <addr> <port>".
    if (state == "fail") {
      if (absl::Status s = ri::CheckFieldCount(kKind, key, text, *f, 2);
          !s.ok()) {
        return s;
      }
      m.failure = (*f)[1];
      return m;
    }
    if (state != "ok") {
      return ri::Malformed(
          kKind, key, text,
          absl::StrCat("unknown state '", absl::CHexEscape(state), "'"));
    }
    if (absl::Status s = ri::CheckFieldCount(kKind, key, text, *f, 3);
        !s.ok()) {
      return s;
    }
    m.addr = (*f)[1];
    if (absl::Status s =
            ri::DecodeInt(kKind, key, text, "port", (*f)[2], &m.port);
        !s.ok()) {
      return s;
    }
    return m;
  }
};

// What a node's heartbeat says about it.
enum class HeartbeatState {
  kJoin,  // It waits in the rendezvous (NodeRendezvous::Join).
  kRun,   // Its workers run.
  kDone,  // Its workers all succeeded; it waits in the exit barrier.
  kLeft,  // It gave up waiting in the barrier and exited: never declare it
          // dead.
};

// "join", "run", "done", "left": the names `tplaunch status` shows.
inline absl::string_view HeartbeatStateName(HeartbeatState state) {
  switch (state) {
    case HeartbeatState::kJoin:
      return "join";
    case HeartbeatState::kRun:
      return "run";
    case HeartbeatState::kDone:
      return "done";
    case HeartbeatState::kLeft:
      return "left";
  }
  return "run";
}

// The inverse of HeartbeatStateName; nullopt for any other text.
inline std::optional<HeartbeatState> ParseHeartbeatState(
    absl::string_view name) {
  for (HeartbeatState s : {HeartbeatState::kJoin, HeartbeatState::kRun,
                           HeartbeatState::kDone, HeartbeatState::kLeft}) {
    if (name == HeartbeatStateName(s)) return s;
  }
  return std::nullopt;
}

// One node's heartbeat (HeartbeatKey). Peers compare whole values to see that
// it changed: seq grows with every beat, so a value never repeats.
struct HeartbeatRecord {
  int64_t seq = 0;
  int64_t unix_ms = 0;  // The writer's clock: approximate across hosts.
  HeartbeatState state = HeartbeatState::kRun;
  // The writer's NodeInfo::id: a value whose id is not the slot's node's was
  // written by a node of another world under the same slot (the store lost
  // its keys and both took slot N).
  std::string node_id;

  std::string Encode() const {
    return records_internal::EncodeFields(
        "hb/v2", {absl::StrCat(seq), absl::StrCat(unix_ms),
                  HeartbeatStateName(state), node_id});
  }
  static absl::StatusOr<HeartbeatRecord> Decode(absl::string_view key,
                                                absl::string_view text) {
    namespace ri = records_internal;
    constexpr absl::string_view kKind = "heartbeat";
    absl::StatusOr<std::vector<std::string>> f =
        ri::DecodeFields(kKind, "hb/v2", key, text, 4);
    if (!f.ok()) return f.status();
    HeartbeatRecord hb;
    for (absl::Status s :
         {ri::DecodeInt(kKind, key, text, "seq", (*f)[0], &hb.seq),
          ri::DecodeInt(kKind, key, text, "time", (*f)[1], &hb.unix_ms)}) {
      if (!s.ok()) return s;
    }
    std::optional<HeartbeatState> state = ParseHeartbeatState((*f)[2]);
    if (!state.has_value()) {
      return ri::Malformed(
          kKind, key, text,
          absl::StrCat("unknown state '", absl::CHexEscape((*f)[2]), "'"));
    }
    hb.state = *state;
    hb.node_id = (*f)[3];
    return hb;
  }
};

// A worker rank's claim on its rank in a process group (GroupJoinKey), read by
// every other rank to check they agree on the backend and the world size.
struct MemberRecord {
  int rank = 0;
  int world_size = 0;
  std::string backend;
  std::string host;
  int pid = 0;

  std::string Encode() const {
    return records_internal::EncodeFields(
        "member/v1", {absl::StrCat(rank), absl::StrCat(world_size), backend,
                      host, absl::StrCat(pid)});
  }
  static absl::StatusOr<MemberRecord> Decode(absl::string_view key,
                                             absl::string_view text) {
    namespace ri = records_internal;
    constexpr absl::string_view kKind = "group member";
    absl::StatusOr<std::vector<std::string>> f =
        ri::DecodeFields(kKind, "member/v1", key, text, 5);
    if (!f.ok()) return f.status();
    MemberRecord m;
    m.backend = (*f)[2];
    m.host = (*f)[3];
    for (absl::Status s :
         {ri::DecodeInt(kKind, key, text, "rank", (*f)[0], &m.rank),
          ri::DecodeInt(kKind, key, text, "world size", (*f)[1], &m.world_size),
          ri::DecodeInt(kKind, key, text, "pid", (*f)[4], &m.pid)}) {
      if (!s.ok()) return s;
    }
    return m;
  }
};

}  // namespace tplaunch

#endif  // TPLAUNCH_COMMON_RECORDS_H_
