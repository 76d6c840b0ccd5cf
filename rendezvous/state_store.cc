#include "rendezvous/state_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "rendezvous/incarnation.h"
#include "rendezvous/logger.h"

namespace tplaunch {
namespace {

constexpr char kFileName[] = "tprdzvd.sqlite3";
// Bumped when the tables change incompatibly; an older daemon refuses a newer
// file rather than misread it.
constexpr int kFormat = 1;

// The schema. Values are BLOBs (keys and values are bytes); times are
// microseconds since the Unix epoch. meta holds "format", "incarnation" and
// "last_commit_us".
constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value BLOB);"
    "CREATE TABLE IF NOT EXISTS jobs(job BLOB PRIMARY KEY,"
    " last_activity_us INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS kv(job BLOB NOT NULL, key BLOB NOT NULL,"
    " value BLOB NOT NULL, PRIMARY KEY(job, key));";

// A KvMutation that owns its bytes, queued for the committer.
struct OwnedMutation {
  KvMutation::Kind kind;
  std::string job;
  std::string key;
  std::string value;
  int64_t time_us = 0;
};

// One Record call: its changes commit in the same transaction.
struct PendingCall {
  uint64_t ticket = 0;
  std::vector<OwnedMutation> mutations;
};

// A prepared statement, finalized on destruction.
class Statement {
 public:
  Statement() = default;
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  absl::Status Prepare(sqlite3* db, const char* sql) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      return absl::DataLossError(
          absl::StrCat("cannot prepare \"", sql, "\": ", sqlite3_errmsg(db)));
    }
    return absl::OkStatus();
  }

  // Binds bytes by reference: `bytes` must outlive the next Step.
  void Bind(int index, absl::string_view bytes) {
    // A null pointer would bind SQL NULL; "" must stay an empty BLOB.
    sqlite3_bind_blob64(stmt_, index, bytes.empty() ? "" : bytes.data(),
                        bytes.size(), SQLITE_STATIC);
  }
  void Bind(int index, int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
  }

  // Runs a statement that returns no rows, and resets it.
  absl::Status Run(sqlite3* db) {
    const int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    if (rc != SQLITE_DONE) {
      return absl::UnavailableError(
          absl::StrCat("SQLite write failed: ", sqlite3_errmsg(db)));
    }
    return absl::OkStatus();
  }

  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

absl::string_view ColumnBytes(sqlite3_stmt* stmt, int column) {
  const void* data = sqlite3_column_blob(stmt, column);
  const int size = sqlite3_column_bytes(stmt, column);
  if (data == nullptr || size == 0) return absl::string_view();
  return absl::string_view(static_cast<const char*>(data), size);
}

class SqliteStateStore final : public StateStore {
 public:
  SqliteStateStore(sqlite3* db, std::string path, StateStoreOptions options)
      : db_(db), path_(std::move(path)), options_(std::move(options)) {}

  ~SqliteStateStore() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    if (committer_.joinable()) committer_.join();
    statements_.clear();  // Finalized before the close.
    sqlite3_close(db_);
  }

  // Schema, format check, incarnation, prepared statements, the committer.
  absl::Status Init() {
    RETURN_IF_ERROR(Pragmas());
    RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    absl::Status status = InitMeta();
    if (!status.ok()) {
      Exec("ROLLBACK").IgnoreError();
      return status;
    }
    RETURN_IF_ERROR(Exec("COMMIT"));
    RETURN_IF_ERROR(
        Add(&put_,
            "INSERT INTO kv(job, key, value) VALUES(?1, ?2, ?3)"
            " ON CONFLICT(job, key) DO UPDATE SET value = excluded.value"));
    RETURN_IF_ERROR(
        Add(&delete_key_, "DELETE FROM kv WHERE job=?1 AND key=?2"));
    RETURN_IF_ERROR(Add(&delete_job_kv_, "DELETE FROM kv WHERE job = ?1"));
    RETURN_IF_ERROR(Add(&delete_job_, "DELETE FROM jobs WHERE job = ?1"));
    RETURN_IF_ERROR(Add(&touch_,
                        "INSERT INTO jobs(job, last_activity_us) VALUES(?1, ?2)"
                        " ON CONFLICT(job) DO UPDATE SET"
                        " last_activity_us = excluded.last_activity_us"));
    RETURN_IF_ERROR(
        Add(&set_meta_,
            "INSERT INTO meta(name, value) VALUES(?1, ?2)"
            " ON CONFLICT(name) DO UPDATE SET value=excluded.value"));
    committer_ = std::thread([this] { CommitLoop(); });
    return absl::OkStatus();
  }

  const std::string& incarnation() const override { return incarnation_; }

  absl::StatusOr<StateRecovery> Recover(KvTable& table,
                                        absl::Time now) override {
    const absl::Time last_commit = absl::FromUnixMicros(last_commit_us_);
    absl::flat_hash_map<std::string, absl::Time> activity;
    {
      Statement jobs;
      RETURN_IF_ERROR(
          jobs.Prepare(db_, "SELECT job, last_activity_us FROM jobs"));
      int rc;
      while ((rc = sqlite3_step(jobs.get())) == SQLITE_ROW) {
        activity[ColumnBytes(jobs.get(), 0)] =
            absl::FromUnixMicros(sqlite3_column_int64(jobs.get(), 1));
      }
      RETURN_IF_ERROR(ReadDone(rc));
    }
    StateRecovery recovered;
    Statement kv;
    RETURN_IF_ERROR(
        kv.Prepare(db_, "SELECT job, key, value FROM kv ORDER BY job"));
    std::string job;
    std::vector<std::pair<std::string, std::string>> entries;
    auto flush = [&] {
      if (entries.empty()) return;
      auto it = activity.find(job);
      const absl::Time at = it == activity.end() ? last_commit : it->second;
      const absl::Duration idle =
          std::max(absl::ZeroDuration(), last_commit - at);
      recovered.keys += static_cast<int64_t>(entries.size());
      ++recovered.jobs;
      table.Restore(job, now - idle, std::move(entries));
      entries.clear();
    };
    int rc;
    while ((rc = sqlite3_step(kv.get())) == SQLITE_ROW) {
      const absl::string_view row_job = ColumnBytes(kv.get(), 0);
      if (row_job != job) {
        flush();
        job = std::string(row_job);
      }
      entries.emplace_back(std::string(ColumnBytes(kv.get(), 1)),
                           std::string(ColumnBytes(kv.get(), 2)));
    }
    RETURN_IF_ERROR(ReadDone(rc));
    flush();
    return recovered;
  }

  uint64_t Record(absl::Span<const KvMutation> mutations) override {
    PendingCall call;
    call.mutations.reserve(mutations.size());
    for (const KvMutation& m : mutations) {
      call.mutations.push_back(
          OwnedMutation{m.kind, std::string(m.job), std::string(m.key),
                        std::string(m.value), absl::ToUnixMicros(m.time)});
    }
    std::lock_guard<std::mutex> lock(mu_);
    call.ticket = ++last_ticket_;
    const uint64_t ticket = call.ticket;
    pending_.push_back(std::move(call));
    work_cv_.notify_one();
    return ticket;
  }

  absl::Status AwaitDurable(uint64_t ticket) override {
    std::unique_lock<std::mutex> lock(mu_);
    durable_cv_.wait(lock, [&] { return durable_ >= ticket || !failed_.ok(); });
    return durable_ >= ticket ? absl::OkStatus() : failed_;
  }

  StateStoreStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  absl::Status Exec(const char* sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      absl::Status status = absl::UnavailableError(absl::StrCat(
          path_, ": \"", sql,
          "\" failed: ", error != nullptr ? error : sqlite3_errmsg(db_)));
      sqlite3_free(error);
      return status;
    }
    return absl::OkStatus();
  }

  absl::Status ReadDone(int rc) {
    if (rc == SQLITE_DONE) return absl::OkStatus();
    return absl::DataLossError(
        absl::StrCat("cannot read ", path_, ": ", sqlite3_errmsg(db_)));
  }

  absl::Status Add(Statement** slot, const char* sql) {
    statements_.push_back(std::make_unique<Statement>());
    *slot = statements_.back().get();
    return (*slot)->Prepare(db_, sql);
  }

  absl::Status Pragmas() {
    // EXCLUSIVE before WAL: the WAL index then lives in this process's heap
    // (no -shm file) and the lock taken by the first write below is held until
    // close, so a second daemon on the same directory fails at start.
    RETURN_IF_ERROR(Exec("PRAGMA locking_mode=EXCLUSIVE"));
    Statement wal;
    const bool prepared = wal.Prepare(db_, "PRAGMA journal_mode=WAL").ok();
    const int rc = prepared ? sqlite3_step(wal.get()) : sqlite3_errcode(db_);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return InUse();
    if (rc != SQLITE_ROW) {
      return absl::DataLossError(absl::StrCat(
          path_, " is not a usable tprdzvd state file: ", sqlite3_errmsg(db_)));
    }
    const std::string mode(ColumnBytes(wal.get(), 0));
    sqlite3_reset(wal.get());
    if (mode != "wal") {
      return absl::UnavailableError(
          absl::StrCat(path_, ": SQLite refused WAL mode"));
    }
    return Exec(options_.sync == StateSync::kFull
                    ? "PRAGMA synchronous=FULL"
                    : "PRAGMA synchronous=NORMAL");
  }

  absl::Status InUse() {
    return absl::FailedPreconditionError(
        absl::StrCat("the state dir ", options_.dir,
                     " is in use by another process (another tprdzvd?)"));
  }

  // In the open transaction: tables, format, incarnation, last commit time.
  absl::Status InitMeta() {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, kSchema, nullptr, nullptr, &error);
    if (rc != SQLITE_OK) {
      absl::Status status = absl::DataLossError(
          absl::StrCat(path_, " is not a usable tprdzvd state file: ",
                       error != nullptr ? error : sqlite3_errmsg(db_)));
      sqlite3_free(error);
      return status;
    }
    Statement read;
    RETURN_IF_ERROR(read.Prepare(db_, "SELECT name, value FROM meta"));
    absl::flat_hash_map<std::string, std::string> meta;
    int step;
    while ((step = sqlite3_step(read.get())) == SQLITE_ROW) {
      meta[ColumnBytes(read.get(), 0)] =
          std::string(ColumnBytes(read.get(), 1));
    }
    RETURN_IF_ERROR(ReadDone(step));
    if (meta.contains("format")) {
      int format = 0;
      if (!absl::SimpleAtoi(meta["format"], &format) || format != kFormat) {
        return absl::FailedPreconditionError(
            absl::StrCat(path_, " has state format \"", meta["format"],
                         "\"; this tprdzvd reads format ", kFormat));
      }
      incarnation_ = meta["incarnation"];
      if (!absl::SimpleAtoi(meta["last_commit_us"], &last_commit_us_)) {
        last_commit_us_ = absl::ToUnixMicros(absl::Now());
      }
      if (!incarnation_.empty()) return absl::OkStatus();
    }
    ASSIGN_OR_RETURN(incarnation_, NewIncarnation());
    last_commit_us_ = absl::ToUnixMicros(absl::Now());
    const std::string format = absl::StrCat(kFormat);
    const std::string last = absl::StrCat(last_commit_us_);
    Statement write;
    RETURN_IF_ERROR(write.Prepare(
        db_, "INSERT OR REPLACE INTO meta(name, value) VALUES(?1, ?2)"));
    for (const auto& [name, value] :
         {std::pair<absl::string_view, absl::string_view>("format", format),
          {"incarnation", incarnation_},
          {"last_commit_us", last}}) {
      write.Bind(1, name);
      write.Bind(2, value);
      RETURN_IF_ERROR(write.Run(db_));
    }
    return absl::OkStatus();
  }

  // The committer: takes every pending call (up to max_batch_calls), writes
  // them in one transaction, then releases their AwaitDurable. Calls that
  // arrive during a commit form the next batch: that is the group commit.
  void CommitLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      work_cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
      if (pending_.empty()) return;  // Stopping, and everything committed.
      std::vector<PendingCall> batch;
      const size_t take = std::min<size_t>(
          pending_.size(), std::max(1, options_.max_batch_calls));
      for (size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      lock.unlock();
      absl::Status status = CommitBatch(batch);
      lock.lock();
      if (!status.ok()) {
        failed_ = absl::UnavailableError(
            absl::StrCat("cannot write the state dir ", options_.dir, ": ",
                         status.message()));
        durable_cv_.notify_all();
        // Fail-stop: the table closes on this error, so every later call is
        // refused; recovery at the next start has everything committed.
        RendezvousLogger().error(
            "{}; refusing every call until tprdzvd is restarted",
            std::string(failed_.message()));
        return;
      }
      durable_ = batch.back().ticket;
      ++stats_.commits;
      stats_.calls += static_cast<int64_t>(batch.size());
      durable_cv_.notify_all();
    }
  }

  absl::Status CommitBatch(const std::vector<PendingCall>& batch) {
    RETURN_IF_ERROR(Exec("BEGIN"));
    absl::Status status = WriteBatch(batch);
    if (status.ok()) status = Exec("COMMIT");
    if (!status.ok()) Exec("ROLLBACK").IgnoreError();
    return status;
  }

  absl::Status WriteBatch(const std::vector<PendingCall>& batch) {
    // Each job's newest activity time, written once per batch.
    absl::flat_hash_map<absl::string_view, int64_t> activity;
    for (const PendingCall& call : batch) {
      for (const OwnedMutation& m : call.mutations) {
        switch (m.kind) {
          case KvMutation::Kind::kPut:
            put_->Bind(1, m.job);
            put_->Bind(2, m.key);
            put_->Bind(3, m.value);
            RETURN_IF_ERROR(put_->Run(db_));
            activity[m.job] = m.time_us;
            break;
          case KvMutation::Kind::kDeleteKey:
            delete_key_->Bind(1, m.job);
            delete_key_->Bind(2, m.key);
            RETURN_IF_ERROR(delete_key_->Run(db_));
            activity[m.job] = m.time_us;
            break;
          case KvMutation::Kind::kDeleteJob:
            delete_job_kv_->Bind(1, m.job);
            RETURN_IF_ERROR(delete_job_kv_->Run(db_));
            delete_job_->Bind(1, m.job);
            RETURN_IF_ERROR(delete_job_->Run(db_));
            activity.erase(m.job);
            break;
          case KvMutation::Kind::kTouch:
            activity[m.job] = m.time_us;
            break;
        }
      }
    }
    for (const auto& [job, time_us] : activity) {
      touch_->Bind(1, job);
      touch_->Bind(2, time_us);
      RETURN_IF_ERROR(touch_->Run(db_));
    }
    const std::string now = absl::StrCat(absl::ToUnixMicros(absl::Now()));
    set_meta_->Bind(1, absl::string_view("last_commit_us"));
    set_meta_->Bind(2, now);
    return set_meta_->Run(db_);
  }

  sqlite3* const db_;
  const std::string path_;
  const StateStoreOptions options_;
  std::string incarnation_;     // Set by Init.
  int64_t last_commit_us_ = 0;  // As found by Init.

  // Used by the committer thread only (and by Init/Recover before it runs).
  std::vector<std::unique_ptr<Statement>> statements_;
  Statement* put_ = nullptr;
  Statement* delete_key_ = nullptr;
  Statement* delete_job_kv_ = nullptr;
  Statement* delete_job_ = nullptr;
  Statement* touch_ = nullptr;
  Statement* set_meta_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable durable_cv_;
  std::deque<PendingCall> pending_;
  uint64_t last_ticket_ = 0;
  uint64_t durable_ = 0;
  absl::Status failed_;
  bool stop_ = false;
  StateStoreStats stats_;
  std::thread committer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StateStore>> OpenStateStore(
    const StateStoreOptions& options) {
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("the state dir is empty");
  }
  if (mkdir(options.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::UnavailableError(absl::StrCat("cannot create the state dir ",
                                               options.dir, ": ",
                                               std::strerror(errno)));
  }
  const std::string path = absl::StrCat(options.dir, "/", kFileName);
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat("cannot open ", path, ": ",
                     db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
    sqlite3_close(db);
    return status;
  }
  auto store = std::make_unique<SqliteStateStore>(db, path, options);
  absl::Status status = store->Init();
  if (absl::IsUnavailable(status) && sqlite3_errcode(db) == SQLITE_BUSY) {
    return absl::FailedPreconditionError(
        absl::StrCat("the state dir ", options.dir,
                     " is in use by another process (another tprdzvd?)"));
  }
  if (!status.ok()) return status;
  return std::unique_ptr<StateStore>(std::move(store));
}

}  // namespace tplaunch
