#include "store/etcd/key_layout.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tplaunch {

std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    const unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

absl::StatusOr<EtcdKeyLayout> EtcdKeyLayout::ForRun(absl::string_view run_id) {
  if (run_id.empty()) {
    return absl::InvalidArgumentError("the etcd store needs a run id");
  }
  if (run_id.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("run id '", absl::CHexEscape(run_id),
                     "' contains '/', which etcd key prefixes cannot hold"));
  }
  EtcdKeyLayout layout;
  layout.run_id_ = std::string(run_id);
  layout.run_prefix_ = absl::StrCat("/tplaunch/v1/", run_id, "/");
  layout.user_prefix_ = absl::StrCat(layout.run_prefix_, "k/");
  return layout;
}

std::string EtcdKeyLayout::UserKey(absl::string_view key) const {
  return absl::StrCat(user_prefix_, key);
}

absl::string_view EtcdKeyLayout::StoreKey(absl::string_view etcd_key) const {
  etcd_key.remove_prefix(std::min(etcd_key.size(), user_prefix_.size()));
  return etcd_key;
}

std::string EtcdKeyLayout::LeaseKey() const {
  return absl::StrCat(run_prefix_, "m/lease");
}

std::string EtcdKeyLayout::RequestKey(absl::string_view request_id) const {
  return absl::StrCat(run_prefix_, "r/", request_id);
}

}  // namespace tplaunch
