#include "store/grpc/status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "store/error_text.h"

namespace tplaunch {

absl::Status FromGrpcStatus(const grpc::Status& status, const RpcInfo& rpc,
                            absl::string_view job, absl::string_view endpoint,
                            absl::Duration elapsed) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string detail = status.error_message();
  // gRPC's own text for a client-side deadline adds nothing to ours.
  const bool client_deadline = code == absl::StatusCode::kDeadlineExceeded &&
                               detail == "Deadline Exceeded";
  // A blocking call's timeout is answered by the daemon before our later gRPC
  // deadline, with a message that already names the missing keys, job, time
  // and address: it reaches the caller as it is.
  if (code == absl::StatusCode::kDeadlineExceeded && rpc.blocking &&
      !client_deadline) {
    return absl::Status(code, detail);
  }
  if (client_deadline) detail.clear();

  std::string subject(rpc.op);
  if (!rpc.keys.empty()) {
    absl::StrAppend(&subject, " of ", DescribeKeys(rpc.keys));
  }
  absl::StrAppend(&subject, InJob(job));

  std::string message;
  switch (code) {
    case absl::StatusCode::kDeadlineExceeded:
      // Only a daemon that did not answer in time gets here for a blocking
      // call: which keys were missing is not known without asking again.
      message =
          rpc.blocking
              ? absl::StrCat(
                    TimeoutMessage(rpc.timeout, rpc.keys, rpc.keys.size(),
                                   /*exact=*/true, job),
                    " on ", endpoint, " (tprdzvd sent no answer within ",
                    FormatWaited(rpc.grace), " after that)")
              : absl::StrCat(subject, " on ", endpoint, ": no reply within ",
                             FormatWaited(rpc.timeout));
      break;
    case absl::StatusCode::kUnavailable:
      message =
          absl::StrCat(subject, ": tprdzvd at ", endpoint, " is unavailable");
      if (rpc.blocking) {
        absl::StrAppend(&message, " after waiting ", FormatWaited(elapsed));
      }
      break;
    default:
      message = absl::StrCat(subject, " on ", endpoint, " failed");
      if (rpc.blocking) {
        absl::StrAppend(&message, " after ", FormatWaited(elapsed));
      }
      break;
  }
  if (!detail.empty()) absl::StrAppend(&message, ": ", detail);
  return absl::Status(code, message);
}

}  // namespace tplaunch
