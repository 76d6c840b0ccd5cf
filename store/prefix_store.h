// PrefixStore: a namespacing decorator ("<prefix>/<key>") over another Store.
#ifndef TPLAUNCH_STORE_PREFIX_STORE_H_
#define TPLAUNCH_STORE_PREFIX_STORE_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "store/store.h"

namespace tplaunch {

// Every key passed in is stored as "<prefix>/<key>" in `base`. NumKeys and
// ListKeys see only keys under the prefix, and ListKeys returns them with the
// prefix stripped. `base` must outlive the returned store unless it is owned
// (second overload).
std::unique_ptr<Store> NewPrefixStore(absl::string_view prefix, Store* base);
std::unique_ptr<Store> NewPrefixStore(absl::string_view prefix,
                                      std::shared_ptr<Store> base);

}  // namespace tplaunch

#endif  // TPLAUNCH_STORE_PREFIX_STORE_H_
