#include "tests/launcher/etcd/etcd_launch.h"

#include "absl/strings/str_cat.h"
#include "tests/testing/processes.h"

namespace tplaunch {
namespace testing {

namespace {

std::string Etcdctl(const std::vector<std::string>& argv) {
  Subprocess ctl(argv, {{"ETCDCTL_API", "3"}});
  std::optional<int> code = ctl.Wait(absl::Seconds(30));
  if (code != 0) return absl::StrCat("? ", ctl.err());
  return ctl.out();
}

}  // namespace

std::vector<std::string> EtcdNode(const EtcdCluster& etcd,
                                  const std::string& run, int nproc,
                                  const std::vector<std::string>& extra,
                                  const std::vector<std::string>& program) {
  std::vector<std::string> argv = {Runfile("launcher/tplaunch"),
                                   "--nnodes",
                                   "2",
                                   "--nproc",
                                   absl::StrCat(nproc),
                                   "--rdzv-backend",
                                   "etcd-v3",
                                   "--rdzv-endpoint",
                                   etcd.EndpointFlag(),
                                   "--rdzv-id",
                                   run};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), program.begin(), program.end());
  return argv;
}

std::string RunKeys(const EtcdCluster& etcd, const std::string& run, int member,
                    bool values) {
  std::vector<std::string> argv = {
      "/usr/bin/etcdctl",
      absl::StrCat("--endpoints=", etcd.endpoints()[member].ToString()),
      "--command-timeout=10s",
      "get",
      "--prefix",
      absl::StrCat("/tplaunch/v1/", run, "/")};
  if (!values) argv.push_back("--keys-only");
  return Etcdctl(argv);
}

std::string Leases(const EtcdCluster& etcd) {
  return Etcdctl({"/usr/bin/etcdctl",
                  absl::StrCat("--endpoints=", etcd.endpoints()[0].ToString()),
                  "--command-timeout=10s", "lease", "list"});
}

}  // namespace testing
}  // namespace tplaunch
