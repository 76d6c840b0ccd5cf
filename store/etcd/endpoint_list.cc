#include "store/etcd/endpoint_list.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "store/etcd/etcd_store_options.h"

namespace tplaunch {
namespace {

constexpr absl::string_view kSchemes[] = {"etcd-v3://", "etcd://"};

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("etcd endpoints '", absl::CHexEscape(text), "': ", why));
}

}  // namespace

absl::StatusOr<std::vector<Endpoint>> ParseEtcdEndpoints(
    absl::string_view text) {
  absl::string_view list = text;
  for (absl::string_view scheme : kSchemes) {
    if (absl::ConsumePrefix(&list, scheme)) break;
  }
  if (list.empty()) return Bad(text, "no member given");
  std::vector<Endpoint> endpoints;
  for (absl::string_view member : absl::StrSplit(list, ',')) {
    if (member.empty()) {
      return Bad(text, "an empty member (two commas, or one at an end)");
    }
    absl::StatusOr<Endpoint> endpoint = ParseEndpoint(member, kDefaultEtcdPort);
    if (!endpoint.ok()) return Bad(text, endpoint.status().message());
    if (std::find(endpoints.begin(), endpoints.end(), *endpoint) !=
        endpoints.end()) {
      return Bad(text, absl::StrCat(endpoint->ToString(), " is named twice"));
    }
    endpoints.push_back(*std::move(endpoint));
  }
  return endpoints;
}

std::string EtcdEndpointsUrl(const std::vector<Endpoint>& endpoints) {
  std::string url(kSchemes[0]);
  for (size_t i = 0; i < endpoints.size(); ++i) {
    absl::StrAppend(&url, i == 0 ? "" : ",", endpoints[i].ToString());
  }
  return url;
}

}  // namespace tplaunch
