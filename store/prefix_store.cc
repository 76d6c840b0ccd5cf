#include "store/prefix_store.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {
namespace {

class PrefixStore final : public Store {
 public:
  PrefixStore(absl::string_view prefix, Store* base,
              std::shared_ptr<Store> owned)
      : prefix_(absl::StrCat(prefix, "/")),
        base_(base),
        owned_(std::move(owned)) {}

  absl::Status Set(absl::string_view key, absl::string_view value) override {
    return base_->Set(Full(key), value);
  }

  absl::StatusOr<std::string> Get(absl::string_view key,
                                  absl::Duration timeout) override {
    return base_->Get(Full(key), timeout);
  }

  absl::StatusOr<std::string> TryGet(absl::string_view key) override {
    return base_->TryGet(Full(key));
  }

  absl::StatusOr<bool> Check(absl::Span<const std::string> keys) override {
    return base_->Check(FullKeys(keys));
  }

  absl::StatusOr<int64_t> Add(absl::string_view key, int64_t delta) override {
    return base_->Add(Full(key), delta);
  }

  absl::StatusOr<std::string> CompareSet(absl::string_view key,
                                         absl::string_view expected,
                                         absl::string_view desired) override {
    return base_->CompareSet(Full(key), expected, desired);
  }

  absl::Status Wait(absl::Span<const std::string> keys,
                    absl::Duration timeout) override {
    return base_->Wait(FullKeys(keys), timeout);
  }

  absl::StatusOr<bool> DeleteKey(absl::string_view key) override {
    return base_->DeleteKey(Full(key));
  }

  // Counted through ListKeys: the base store's NumKeys covers every prefix.
  absl::StatusOr<int64_t> NumKeys() override {
    absl::StatusOr<std::vector<std::string>> keys = base_->ListKeys(prefix_);
    if (!keys.ok()) return keys.status();
    return static_cast<int64_t>(keys->size());
  }

  absl::Status Append(absl::string_view key, absl::string_view value) override {
    return base_->Append(Full(key), value);
  }

  absl::StatusOr<std::vector<std::string>> MultiGet(
      absl::Span<const std::string> keys, absl::Duration timeout) override {
    return base_->MultiGet(FullKeys(keys), timeout);
  }

  absl::Status MultiSet(
      absl::Span<const std::pair<std::string, std::string>> entries) override {
    std::vector<std::pair<std::string, std::string>> full;
    full.reserve(entries.size());
    for (const auto& [key, value] : entries)
      full.emplace_back(Full(key), value);
    return base_->MultiSet(full);
  }

  absl::StatusOr<std::vector<std::string>> ListKeys(
      absl::string_view prefix) override {
    absl::StatusOr<std::vector<std::string>> keys =
        base_->ListKeys(Full(prefix));
    if (!keys.ok()) return keys.status();
    for (std::string& key : *keys) key.erase(0, prefix_.size());
    return keys;
  }

 private:
  std::string Full(absl::string_view key) const {
    return absl::StrCat(prefix_, key);
  }

  std::vector<std::string> FullKeys(absl::Span<const std::string> keys) const {
    std::vector<std::string> full;
    full.reserve(keys.size());
    for (const std::string& key : keys) full.push_back(Full(key));
    return full;
  }

  const std::string prefix_;  // Ends with "/".
  Store* const base_;
  const std::shared_ptr<Store>
      owned_;  // Keeps base_ alive when shared; may be null.
};

}  // namespace

std::unique_ptr<Store> NewPrefixStore(absl::string_view prefix, Store* base) {
  return std::make_unique<PrefixStore>(prefix, base, nullptr);
}

std::unique_ptr<Store> NewPrefixStore(absl::string_view prefix,
                                      std::shared_ptr<Store> base) {
  Store* raw = base.get();
  return std::make_unique<PrefixStore>(prefix, raw, std::move(base));
}

}  // namespace tplaunch
