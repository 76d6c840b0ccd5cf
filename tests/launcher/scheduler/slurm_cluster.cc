#include "tests/launcher/scheduler/slurm_cluster.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/testing/files.h"
#include "tests/testing/wait_for.h"

namespace tplaunch {
namespace testing {
namespace {

constexpr int kNodes = 2;

// Runs a setup command (ip ...); its output is not interesting when it works.
absl::Status Sh(const std::string& cmd) {
  const std::string full = cmd + " >/dev/null 2>&1";
  if (system(full.c_str()) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("`", cmd, "` failed"));
  }
  return absl::OkStatus();
}

// The pids `ip netns pids` lists for `ns`.
std::vector<pid_t> NamespacePids(const std::string& ns) {
  std::vector<pid_t> pids;
  const std::string cmd = "ip netns pids " + ns + " 2>/dev/null";
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) return pids;
  char line[64];
  while (fgets(line, sizeof line, f) != nullptr) {
    int pid = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &pid) && pid > 0) {
      pids.push_back(pid);
    }
  }
  pclose(f);
  return pids;
}

}  // namespace

bool SlurmInstalled() { return access(kSlurmctld, X_OK) == 0; }

absl::StatusOr<std::unique_ptr<SlurmCluster>> SlurmCluster::Start(
    SlurmClusterOptions options) {
  std::unique_ptr<SlurmCluster> c(new SlurmCluster());
  // Not TEST_TMPDIR: slurmd's unix sockets live in its spool directory and a
  // socket path must fit in 108 bytes.
  char tmpl[] = "/tmp/tpl-slurm-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    return absl::InternalError("mkdtemp /tmp/tpl-slurm-XXXXXX failed");
  }
  c->dir_ = tmpl;
  c->conf_ = c->dir_ + "/slurm.conf";
  if (absl::Status s = c->CreateNamespaces(); !s.ok()) return s;
  // The namespaces are fresh, so a port is taken only by a daemon this
  // cluster started; still, a failed bind gets other ports, not a failure.
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int ctld_port = 17000 + (getpid() * 7 + attempt * 131) % 900 * 2;
    if (absl::Status s = c->WriteConfig(ctld_port, ctld_port + 1); !s.ok()) {
      return s;
    }
    last = c->StartDaemons(options.start_timeout);
    if (last.ok()) return c;
    c->StopDaemons();
  }
  return last;
}

absl::Status SlurmCluster::CreateNamespaces() {
  const int id = getpid() % 200 + 20;
  const std::string tag = absl::StrCat(getpid() % 100000);
  std::string hosts = "127.0.0.1 localhost\n";
  for (int n = 0; n < kNodes; ++n) {
    netns_.push_back(absl::StrCat("tpl-slurm", n, "-", tag));
    names_.push_back(absl::StrCat("node", n));
    addresses_.push_back(absl::StrCat("10.79.", id, ".", n + 1));
    absl::StrAppend(&hosts, addresses_[n], " ", names_[n], "\n");
  }
  WriteFile(dir_ + "/hosts", hosts);
  const std::string veth0 = "tsv0-" + tag;
  const std::string veth1 = "tsv1-" + tag;
  for (const std::string& ns : netns_) {
    if (absl::Status s = Sh("ip netns add " + ns); !s.ok()) return s;
  }
  std::vector<std::string> cmds = {
      absl::StrCat("ip link add ", veth0, " type veth peer name ", veth1),
      absl::StrCat("ip link set ", veth0, " netns ", netns_[0]),
      absl::StrCat("ip link set ", veth1, " netns ", netns_[1])};
  const std::string veths[] = {veth0, veth1};
  for (int n = 0; n < kNodes; ++n) {
    cmds.push_back(absl::StrCat("ip -n ", netns_[n], " addr add ",
                                addresses_[n], "/24 dev ", veths[n]));
    cmds.push_back(
        absl::StrCat("ip -n ", netns_[n], " link set ", veths[n], " up"));
    cmds.push_back(absl::StrCat("ip -n ", netns_[n], " link set lo up"));
  }
  for (const std::string& cmd : cmds) {
    if (absl::Status s = Sh(cmd); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SlurmCluster::WriteConfig(int ctld_port, int slurmd_port) {
  const std::string& d = dir_;
  std::string conf = absl::StrCat(
      "ClusterName=tplaunch\n", "SlurmctldHost=", names_[0], "(", addresses_[0],
      ")\n", "SlurmctldPort=", ctld_port, "\n", "SlurmdPort=", slurmd_port,
      "\n",
      // No munged: the test is one host and root.
      "AuthType=auth/none\nCredType=cred/none\n",
      "SlurmUser=root\nSlurmdUser=root\n",
      // No cgroups: a node's processes are found through its namespace.
      "ProctrackType=proctrack/pgid\nTaskPlugin=task/none\n",
      "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n",
      "MpiDefault=none\nJobAcctGatherType=jobacct_gather/none\n",
      "AccountingStorageType=accounting_storage/none\n",
      // Both nodes are this host's CPUs: the configured ones win.
      "SlurmdParameters=config_overrides\nReturnToService=2\n",
      // The step's SIGTERM..SIGKILL window the signal test relies on.
      "KillWait=30\n", "StateSaveLocation=", d, "/state\n",
      "SlurmdSpoolDir=", d, "/spool/%n\n", "SlurmctldPidFile=", d,
      "/slurmctld.pid\n", "SlurmdPidFile=", d, "/slurmd-%n.pid\n",
      "SlurmctldLogFile=", d, "/slurmctld.log\n", "SlurmdLogFile=", d,
      "/slurmd-%n.log\n");
  for (int n = 0; n < kNodes; ++n) {
    absl::StrAppend(&conf, "NodeName=", names_[n], " NodeAddr=", addresses_[n],
                    " CPUs=2 State=UNKNOWN\n");
    std::filesystem::create_directories(d + "/spool/" + names_[n]);
  }
  absl::StrAppend(&conf,
                  "PartitionName=main Nodes=ALL Default=YES "
                  "MaxTime=INFINITE State=UP\n");
  std::filesystem::create_directories(d + "/state");
  WriteFile(conf_, conf);
  return absl::OkStatus();
}

std::vector<std::string> SlurmCluster::OnNode(
    int node, const std::vector<std::string>& argv) const {
  // nsenter enters only the network namespace (`ip netns exec` would also
  // remount /sys, hiding the cgroup hierarchy slurmd inspects); the UTS and
  // mount namespaces are the node's own hostname and /etc/hosts.
  std::vector<std::string> out = {
      "/usr/bin/nsenter",
      "--net=/run/netns/" + netns_[node],
      "/usr/bin/unshare",
      "--uts",
      "--mount",
      "/bin/sh",
      "-c",
      absl::StrCat("mount --bind ", dir_, "/hosts /etc/hosts && hostname ",
                   names_[node], " && exec \"$@\""),
      "sh"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

std::map<std::string, std::string> SlurmCluster::env() const {
  return {{"SLURM_CONF", conf_}};
}

absl::Status SlurmCluster::StartDaemons(absl::Duration timeout) {
  daemons_.push_back(std::make_unique<Subprocess>(
      OnNode(0, {kSlurmctld, "-D", "-f", conf_}), env()));
  for (int n = 0; n < kNodes; ++n) {
    daemons_.push_back(std::make_unique<Subprocess>(
        OnNode(n, {"/usr/sbin/slurmd", "-D", "-N", names_[n], "-f", conf_}),
        env()));
  }
  const std::string want = absl::StrCat("idle ", kNodes, "\n");
  std::string last;
  bool dead = false;
  const bool up = WaitFor(
      [&] {
        for (const auto& d : daemons_) {
          if (!IsAlive(d->pid())) dead = true;
        }
        if (dead) return true;
        auto s = Run({"/usr/bin/sinfo", "-h", "-o", "%t %D"}, absl::Seconds(5));
        last = s.ok() ? *s : std::string(s.status().message());
        return last == want;
      },
      timeout);
  if (up && !dead) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat(dead ? "a Slurm daemon exited while starting"
                        : absl::StrCat("the nodes were not idle after ",
                                       absl::FormatDuration(timeout)),
                   "; sinfo said: ", last, "\n", Logs()));
}

absl::StatusOr<std::string> SlurmCluster::Run(
    const std::vector<std::string>& argv, absl::Duration timeout) {
  Subprocess p(OnNode(0, argv), env());
  std::optional<int> rc = p.Wait(timeout);
  if (rc == std::optional<int>(0)) return p.out();
  return absl::UnavailableError(absl::StrCat(
      absl::StrJoin(argv, " "), ": ",
      rc ? absl::StrCat("exit ", *rc)
         : absl::StrCat("still running after ", absl::FormatDuration(timeout)),
      ": ", p.err()));
}

std::string SlurmCluster::Logs() const {
  std::string out;
  std::vector<std::string> files = {dir_ + "/slurmctld.log"};
  for (const std::string& n : names_) {
    files.push_back(dir_ + "/slurmd-" + n + ".log");
  }
  for (const std::string& f : files) {
    absl::StrAppend(&out, "--- ", f, ":\n", ReadFile(f));
  }
  return out;
}

void SlurmCluster::StopDaemons() {
  // SIGKILL to everything in the nodes' namespaces: slurmstepd and the jobs'
  // tasks outlive a killed slurmd, and none of it may outlive the test.
  for (const std::string& ns : netns_) {
    WaitFor(
        [&] {
          std::vector<pid_t> pids = NamespacePids(ns);
          for (pid_t pid : pids) kill(pid, SIGKILL);
          return pids.empty();
        },
        absl::Seconds(10));
  }
  daemons_.clear();  // reaps them
}

SlurmCluster::~SlurmCluster() {
  StopDaemons();
  for (const std::string& ns : netns_) Sh("ip netns del " + ns).IgnoreError();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace testing
}  // namespace tplaunch
