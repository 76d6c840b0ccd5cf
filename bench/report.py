"""docs/benchmarks.md and its plots from a bench/run results file (see bench/run).

write(results, results_path, doc_path, plot_dir) renders every section present in the
results; the text that explains a missed target is chosen by the numbers, and the
sentences about what each side does and does not share are fixed here.
"""
import os
import shutil
import subprocess
import tempfile

import report_launch  # bench/report_launch.py
import report_torch2  # bench/report_torch2.py

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fmt(x, digits=1):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return "{:,.0f}".format(x)
    return "{:.{d}f}".format(x, d=digits)


def cell(s, digits=1, scale=1.0):
    """'median (min–max)' of a stats dict."""
    if not s:
        return "—"
    return "%s (%s–%s)" % (fmt(s["median"] * scale, digits), fmt(s["min"] * scale, digits),
                          fmt(s["max"] * scale, digits))


def med(s):
    return s["median"] if s else None


def ratio(a, b):
    return a / b if a and b else None


def verdict(ok):
    return "**met**" if ok else ("**missed**" if ok is not None else "not measured")


# ------------------------------------------------------------------------ plots

def plot(results, plot_dir, notes):
    if not shutil.which("gnuplot"):
        notes.append("gnuplot is not installed (scripts/setup.sh installs gnuplot-nox): "
                     "no plots were drawn.")
        return {}
    os.makedirs(plot_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bench_plot_")
    made = {}

    def data(name, rows):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            for row in rows:
                f.write(" ".join(str(v) for v in row) + "\n")
        return path

    def draw(name, key, xlabel, ylabel, title, curves):
        """plot_dir/<name>.png: one median line with min-max error bars per curve
        (key, title, rows of (n, median, min, max)); none without rows."""
        lines = ["'%s' using 1:2:3:4 with yerrorlines title '%s'" % (data(k, rows), t)
                 for k, t, rows in curves if rows]
        if not lines:
            return
        out = os.path.join(plot_dir, name + ".png")
        script = ("set terminal pngcairo size 800,500 noenhanced\n"
                  "set output '%s'\nset logscale xy\nset grid\nset key %s\n"
                  "set xlabel '%s'\nset ylabel '%s'\nset title '%s'\nplot %s\n" %
                  (out, key, xlabel, ylabel, title, ", ".join(lines)))
        if run_gnuplot(script, notes):
            made[name] = out

    scale = results.get("scale", {})
    draw("scale", "top left", "simulated ranks N (one connection each)",
         "seconds, connect to last rank done (median, min-max)",
         "NCCL id rendezvous: ADD + one SET + N blocking gets",
         [(key, title,
           [(r["n"], r["seconds"]["median"], r["seconds"]["min"], r["seconds"]["max"])
            for r in scale.get(key, {}).get("rows", []) if r.get("seconds")])
          for key, title in [("nccl_tprdzvd_listener", "tprdzvd TCPStore listener"),
                             ("nccl_pytorch", "PyTorch 1.13 TCPStore server"),
                             ("nccl_tprdzvd_grpc", "tprdzvd gRPC")]])

    launch = results.get("launch", {}).get("rows", [])
    allreduce = results.get("allreduce", {}).get("rows", [])
    draw("launch", "outside below", "workers N", "milliseconds (median, min-max)",
         "Launch: until the launcher exits / until the first allreduce",
         [(key, title, [(r["n"], r[key]["median"], r[key]["min"], r[key]["max"])
                        for r in rows if r.get(key)])
          for key, title, rows in [
              ("tplaunch_ms", "tplaunch /bin/true", launch),
              ("torchrun_ms", "torchrun /bin/true", launch),
              ("hand_ms", "bash hand launch /bin/true", launch),
              ("tplaunch_train_ms", "tplaunch + examples/train: first allreduce",
               allreduce),
              ("tplaunch_torch_ms", "tplaunch + PyTorch script: first allreduce",
               allreduce),
              ("tplaunch_agent_store_torch_ms",
               "tplaunch --torch-store agent + PyTorch script", allreduce),
              ("torchrun_torch_ms", "torchrun + PyTorch script: first allreduce",
               allreduce)]])
    shutil.rmtree(tmp, ignore_errors=True)
    return made


def run_gnuplot(script, notes):
    p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if p.returncode != 0:
        notes.append("gnuplot failed: " + p.stderr.strip()[-300:])
        return False
    return True


# ------------------------------------------------------------------------ sections

def section_machine(results, out):
    m = results.get("machine", {})
    out += [
        "**Run:** %s, `bench/run%s` at commit %s, %s s in all." % (
            results.get("date"), " --quick" if results.get("mode") == "quick" else "",
            m.get("git_commit"), results.get("duration_s")),
        "",
        "**Machine:** %s × %s, %s GiB, %s, kernel %s; load average at start %s. "
        "Loopback only; every client and server shares these CPUs." % (
            m.get("nproc"), m.get("cpu_model"), m.get("mem_gib"), m.get("os"),
            m.get("kernel"), ", ".join("%.2f" % x for x in m.get("load_avg_at_start", []))) +
        (" Load average at the end: %s." % ", ".join(
            "%.2f" % x for x in m["load_avg_at_end"]) if m.get("load_avg_at_end") else ""),
        "",
        "**Versions:** PyTorch %s (Debian, Python %s); gRPC %s; Gloo %s; %s; our code "
        "built with Bazel `%s`. File descriptor limit %s (soft, hard after raising); "
        "ephemeral ports %s; somaxconn %s." % (
            m.get("pytorch"), m.get("python"), m.get("grpc"), m.get("gloo"),
            m.get("compiler"), m.get("bazel_mode"), m.get("fd_limit"),
            "–".join(m.get("ephemeral_ports", [])), m.get("somaxconn")),
        ""]
    passes = results.get("passes", [])
    if len(passes) > 1:
        out += ["**Passes:** the sections were measured in %d passes (`--only ... --merge`): "
                % len(passes) + "; ".join(
                    "%s: %s (commit %s, load %s → %s)" % (
                        p["date"], ", ".join(p["sections"]), p["commit"],
                        "%.1f" % p["load_avg_at_start"][0], "%.1f" % p["load_avg_at_end"][0])
                    for p in passes) + ".", ""]


def section_allreduce(results, out, targets):
    rows = results.get("allreduce", {}).get("rows", [])
    if not rows:
        return
    out += ["## 2. Launch to first allreduce", "",
            "From spawning the launcher to rank 0's first completed all-reduce (the "
            "worker writes the wall-clock time). Milliseconds, median (min–max). The "
            "PyTorch script (bench/worker_lib_torch_first_allreduce.py: "
            "`init_process_group(\"gloo\")` over env://, one `all_reduce`) runs under "
            "torchrun, under tplaunch with the TCPStore in rank 0 (the default, "
            "`--torch-store worker`), and under tplaunch with the store in the launcher "
            "(`--torch-store agent`: tprdzvd's TCPStore listener, which is what torchrun "
            "does with its agent store).", "",
            "| N | tplaunch + examples/train | torchrun + script | tplaunch + script "
            "| tplaunch --torch-store agent + script |", "|---|---|---|---|---|"]
    for r in rows:
        out.append("| %d | %s | %s | %s | %s |" % (
            r["n"], cell(r.get("tplaunch_train_ms")), cell(r.get("torchrun_torch_ms"), 0),
            cell(r.get("tplaunch_torch_ms"), 0),
            cell(r.get("tplaunch_agent_store_torch_ms"), 0)))
    x = lambda v, d=1: fmt(v, d) + "×" if v else "—"
    pct = lambda v: "%.1f%%" % (100 * v) if v else "—"
    out += ["", "Ratios, and the launcher's share: tplaunch's own overhead at that N "
            "(section 1, `/bin/true`) over the tplaunch + script time.", "",
            "| N | torchrun / tplaunch+train | torchrun / tplaunch (same script) | "
            "same, agent store | launcher share | launcher share, agent store |",
            "|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %d | %s | %s | %s | %s | %s |" % (
            r["n"], x(r.get("speedup_train")), x(r.get("speedup_same_script"), 2),
            x(r.get("speedup_same_script_agent_store"), 2), pct(r.get("launcher_share")),
            pct(r.get("launcher_share_agent_store"))))
    worst = min((r.get("speedup_train") or 0) for r in rows)
    share = max((r.get("launcher_share_agent_store") or r.get("launcher_share") or 0)
                for r in rows)
    targets.append(("2. first allreduce, examples/train vs torchrun", "≥ 20× faster",
                    "%s× (lowest over N)" % fmt(worst), verdict(worst >= 20 if worst else None)))
    targets.append(("2. launcher share with the PyTorch script (agent store)", "< 5%",
                    "%.1f%% (highest over N)" % (100 * share), verdict(share < 0.05)))
    out += ["", "Equal: N, the machine, one all-reduce of a small tensor over Gloo on "
            "loopback. Not equal in the first column: examples/train is C++ over "
            "worker_lib (no Python, no torch import), the PyTorch script pays "
            "`import torch` (about a second per process, N processes on %s CPUs). The "
            "tplaunch columns run that same PyTorch script, so the difference "
            "between the torchrun and tplaunch columns is the launcher alone (and, in the "
            "default mode, where the store lives)." %
            results.get("machine", {}).get("nproc"), ""]


def section_store(results, out, targets):
    store = results.get("store", {})
    rows = store.get("rows", [])
    if not rows:
        return
    out += ["## 3. Store operations", "",
            "C clients (one connection each, all in one client process, closed loop) "
            "against each server for %s s after a warm-up; per-operation latency "
            "(µs) and operations per second, median (min–max) over runs. TCPStore "
            "`get` is what PyTorch's client does for `store.get`: WAIT then GET, two "
            "round trips; gRPC `Get` is one call (it parks only while the key is "
            "missing). The same C++ client (bench/tcpstore_load) drives PyTorch's server "
            "and tprdzvd's listener; bench/grpc_load drives tprdzvd's gRPC side (one "
            "thread and channel per client). Both servers run side by side and every "
            "repetition measures each configuration once, so the two sides of a ratio "
            "are measured close together in time.%s" % (
                results.get("config", {}).get("store_seconds"),
                (" The servers are pinned to CPU %s and the clients to CPU %s "
                 "(`taskset`), so each server gets one CPU of its own, whichever it is."
                 % (store["server_cpus"], store["client_cpus"]))
                if store.get("server_cpus") else ""), "",
            "*Server CPU µs/op* is the server process's CPU time over the run divided "
            "by the operations completed in it (warm-up included): what an operation "
            "costs the server, whatever limits the throughput.", "",
            "| server | op | clients | p50 µs | p99 µs | ops/s | server CPU µs/op |",
            "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %s | %d | %s | %s | %s | %s |" % (
            r["server"], r["op"], r["clients"], cell(r["p50_us"]), cell(r["p99_us"]),
            cell(r["ops_per_s"], 0), cell(r.get("server_cpu_us_per_op"))))

    def get(server, op, clients):
        return next((r for r in rows if r["server"] == server and r["op"] == op and
                     r["clients"] == clients), None)
    ratios = ["", "Ratios against PyTorch's server, same op and clients (latency: lower "
              "is better; throughput: higher is better):", "",
              "| side | op | clients | p50 ratio | p99 ratio | throughput ratio | "
              "server CPU/op ratio |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["server"] == "PyTorch TCPStore server":
            continue
        base = get("PyTorch TCPStore server", r["op"], r["clients"])
        if not base:
            continue
        ratios.append("| %s | %s | %d | %s | %s | %s | %s |" % (
            r["server"], r["op"], r["clients"],
            fmt(ratio(med(r["p50_us"]), med(base["p50_us"])), 2),
            fmt(ratio(med(r["p99_us"]), med(base["p99_us"])), 2),
            fmt(ratio(med(r["ops_per_s"]), med(base["ops_per_s"])), 2),
            fmt(ratio(med(r.get("server_cpu_us_per_op")),
                      med(base.get("server_cpu_us_per_op"))), 2)))
    out += ratios
    g1 = get("tprdzvd gRPC", "get", 1)
    p1 = get("PyTorch TCPStore server", "get", 1)
    if g1 and p1:
        lat = ratio(med(g1["p50_us"]), med(p1["p50_us"]))
        targets.append(("3. gRPC Get p50 latency, 1 client", "≤ 1× PyTorch get",
                        fmt(lat, 2) + "×", verdict(lat <= 1 if lat else None)))
    cmax = max(r["clients"] for r in rows)
    gm, pm = get("tprdzvd gRPC", "get", cmax), get("PyTorch TCPStore server", "get", cmax)
    if gm and pm:
        thr = ratio(med(gm["ops_per_s"]), med(pm["ops_per_s"]))
        targets.append(("3. gRPC Get throughput, %d clients" % cmax, "≥ 1× PyTorch get",
                        fmt(thr, 2) + "×", verdict(thr >= 1 if thr else None)))
    lm = get("tprdzvd TCPStore listener", "get", cmax)
    if lm and pm:
        lat = ratio(med(lm["p50_us"]), med(pm["p50_us"]))
        thr = ratio(med(lm["ops_per_s"]), med(pm["ops_per_s"]))
        targets.append(("3. listener get latency (p50), %d clients" % cmax,
                        "≤ 0.7× PyTorch", fmt(lat, 2) + "×", verdict(lat <= 0.7 if lat else None)))
        targets.append(("3. listener get throughput, %d clients" % cmax, "≥ 2× PyTorch",
                        fmt(thr, 2) + "×", verdict(thr >= 2 if thr else None)))
    py = store.get("python_client", [])
    if py:
        out += ["", "PyTorch's own client (the Python binding, one client, sequential; "
                "bench/tcpstore_bench.py) against both TCPStore servers, µs (issue #5):", "",
                "| server | op | p50 µs | p99 µs |", "|---|---|---|---|"]
        for r in py:
            out.append("| %s | %s | %s | %s |" % (r["server"], r["op"], cell(r["p50_us"]),
                                                  cell(r["p99_us"])))
        out += ["", "PyTorch 1.13's `set` has no reply: its latency is the client's "
                "write only."]
    out += ["", "Equal: the client program for both TCPStore servers, the operations, "
            "value sizes (64 bytes) and the CPUs. Not equal: gRPC's client is a different "
            "program (HTTP/2 framing, a thread per client); PyTorch's server is one "
            "thread around `poll()`, tprdzvd's listener runs epoll loop threads and "
            "tprdzvd also runs its gRPC server in the same process.", ""]


def section_scale(results, out, targets, plots):
    scale = results.get("scale", {})
    if not scale:
        return
    out += ["## 4. Rendezvous at scale, and 6. the server's resources", "",
            "N simulated ranks in one client process (bench/tcpstore_load), each its own "
            "TCP connection, at most 512 connections between `connect()` and their first "
            "reply (more overflows the accept queue, and the kernel's one-second SYN "
            "retransmission would be measured instead of the server); connections spread "
            "over 127.0.0.x source addresses. Time from the first `connect()` to the last "
            "rank done, seconds, median (min–max). A fresh server per N; fresh keys per "
            "run. Resources are the server process's over all runs of that N: peak "
            "threads, peak RSS, and CPU seconds per 1,000 requests.", ""]
    for key, title in [("nccl", "(a) NCCL id broadcast: ADD to a counter, rank 0 SETs "
                        "a 128-byte id, every rank does a blocking get (WAIT + GET)"),
                       ("gloo", "(b) Gloo all-gather: every rank SETs its 64-byte "
                        "address, then does a blocking get of every rank's address "
                        "(2N² + N requests)")]:
        out += ["### " + title, "",
                "| server | N | seconds | connect phase s | requests/run | threads idle/peak "
                "| RSS MiB idle/peak | CPU s / 1k req | note |",
                "|---|---|---|---|---|---|---|---|---|"]
        for label, name in [("%s_tprdzvd_listener" % key, "tprdzvd TCPStore listener"),
                            ("%s_pytorch" % key, "PyTorch 1.13 server"),
                            ("%s_tprdzvd_grpc" % key, "tprdzvd gRPC")]:
            for r in scale.get(label, {}).get("rows", []):
                note = r.get("failure") or ""
                if r.get("channels") and r["channels"] < r["n"]:
                    note = (note + " " if note else "") + "%d connections" % r["channels"]
                out.append("| %s | %d | %s | %s | %s | %s/%s | %s/%s | %s | %s |" % (
                    name, r["n"], cell(r.get("seconds"), 3), cell(r.get("connect_seconds"), 3),
                    fmt(r.get("requests_per_run"), 0) if r.get("requests_per_run") else "—",
                    r.get("server_idle_threads", "?"), r.get("server_peak_threads"),
                    fmt(r.get("server_idle_rss_mib")), fmt(r.get("server_peak_rss_mib")),
                    fmt(r.get("server_cpu_s_per_1k_requests"), 3), note))
        exps = []
        for label, name in [("%s_tprdzvd_listener" % key, "tprdzvd listener"),
                            ("%s_pytorch" % key, "PyTorch"), ("%s_tprdzvd_grpc" % key,
                                                             "tprdzvd gRPC")]:
            e = scale.get(label, {}).get("growth_exponent")
            rows = [r for r in scale.get(label, {}).get("rows", []) if r.get("seconds")]
            if e is not None:
                exps.append("%s %.2f (N %d–%d)" % (name, e, rows[0]["n"], rows[-1]["n"]))
        if exps:
            out += ["", "Growth exponent (least-squares slope of log time over log N): " +
                    "; ".join(exps) + "."]
        out.append("")
    ours = {r["n"]: r for r in scale.get("nccl_tprdzvd_listener", {}).get("rows", [])}
    theirs = {r["n"]: r for r in scale.get("nccl_pytorch", {}).get("rows", [])}
    if 4096 in ours and 4096 in theirs:
        s = ratio(med(theirs[4096].get("seconds")), med(ours[4096].get("seconds")))
        targets.append(("4. NCCL rendezvous at N = 4096", "≥ 2× faster than PyTorch",
                        fmt(s) + "×" if s else "—", verdict(s >= 2 if s else None)))
    e = scale.get("nccl_tprdzvd_listener", {}).get("growth_exponent")
    if e is not None:
        largest = max(r["n"] for r in ours.values() if r.get("seconds"))
        targets.append(("4. growth exponent to the largest N (%d)" % largest, "≤ 1.2",
                        "%.2f" % e, verdict(e <= 1.2)))
    if "scale" in plots:
        out += ["![NCCL rendezvous time against N](benchmarks/scale.png)", ""]


def section_failure(results, out, targets):
    f = results.get("failure", {})
    if not f:
        return
    out += ["## 5. Failure detection", "",
            "**Worker crash:** N workers start; once all run, rank 0 writes the time and "
            "exits 1; the others sleep. Milliseconds from that exit to the launcher's "
            "own exit, by which every worker has been reaped (a worker left alive counts "
            "as a failed run). tplaunch runs with `--grace-period 0`; torchrun 1.13 has no "
            "grace option (it sends SIGTERM, which `sleep` obeys at once).", "",
            "| N | tplaunch ms | torchrun ms |", "|---|---|---|"]
    for r in f.get("worker_crash", []):
        out.append("| %d | %s | %s |" % (r["n"], cell(r.get("tplaunch_ms")),
                                         cell(r.get("torchrun_ms"), 0)))
    worst = max((med(r.get("tplaunch_ms")) or 1e9) for r in f.get("worker_crash", []))
    targets.append(("5. worker crash → all workers dead (grace 0)", "< 500 ms",
                    "%s ms (slowest N)" % fmt(worst), verdict(worst < 500)))
    n = f.get("node_loss", {})
    if n:
        timeout_ms = parse_ms(n.get("heartbeat_timeout"))
        out += ["", "**Node loss:** two tplaunch nodes of 2 workers each on one tprdzvd "
                "(`--heartbeat-interval %s --heartbeat-timeout %s --grace-period 0`); "
                "SIGKILL node 1's launcher and workers at once; milliseconds until node "
                "0's launcher has exited (its workers reaped): %s. torchrun's equivalent "
                "(its c10d rendezvous keep-alive) is not measured here." % (
                    n["heartbeat_interval"], n["heartbeat_timeout"], cell(n.get("ms")))]
        m = med(n.get("ms"))
        targets.append(("5. node loss → survivors' workers dead",
                        "within the heartbeat timeout (%s)" % n["heartbeat_timeout"],
                        "%s ms" % fmt(m), verdict(m <= timeout_ms if m else None)))
    out.append("")


def section_waiters(results, out, targets):
    w = results.get("waiters")
    if not w or not w.get("set_to_last_return_ms"):
        return
    out += ["## 7. tprdzvd: Gets parked on one key (issue 2)", "",
            "bench/store_bench: %s async gRPC `Get`s on one missing key over %s "
            "connections from one process, then one `Set`; median (min–max) over %d "
            "runs." % (w["waiters"], w["channels"], w["set_to_last_return_ms"]["runs"]), "",
            "| measure | result | issue-2 target |", "|---|---|---|",
            "| daemon threads, idle → parked | %s → %s | ≤ 64 |" % (
                cell(w["daemon_threads_idle"], 0), cell(w["daemon_threads_parked"], 0)),
            "| daemon RSS MiB, idle → parked | %s → %s | ≤ 300 MB |" % (
                cell(w["daemon_rss_mib_idle"]), cell(w["daemon_rss_mib_parked"])),
            "| `Set` → first `Get` returns, ms | %s | |" % cell(w["set_to_first_return_ms"]),
            "| `Set` → last `Get` returns, ms | %s | ≤ 1,000 |" % cell(
                w["set_to_last_return_ms"]),
            "| `Get`s that returned the value | %s | all |" % cell(w["released_ok"], 0),
            "| one `GrpcStore` client, `Get` p50 µs | %s | ≤ 100 |" % cell(
                w["grpcstore_get_p50_us"]),
            ""]


def parse_ms(text):
    text = str(text)
    if text.endswith("ms"):
        return float(text[:-2])
    if text.endswith("s"):
        return float(text[:-1]) * 1000
    return float(text) * 1000


def write(results, results_path, doc_path=None, plot_dir=None):
    doc_path = doc_path or os.path.join(ROOT, "docs", "benchmarks.md")
    plot_dir = plot_dir or os.path.join(os.path.dirname(doc_path), "benchmarks")
    notes = []
    plots = plot(results, plot_dir, notes)
    out = ["# Benchmarks", "",
           "Generated by `bench/run` from [%s](../%s); do not edit by hand (the "
           "commentary lives in bench/report.py and bench/commentary.md). Compare numbers "
           "only between runs on the same kind of machine. The programs are described in "
           "[bench/README.md](../bench/README.md)." % (results_path, results_path), ""]
    section_machine(results, out)
    targets = []
    body = []
    report_launch.section_launch(results, body, targets, cell, fmt, verdict)
    section_allreduce(results, body, targets)
    report_torch2.section_torch2(results, body, targets, cell, fmt, verdict)
    if "launch" in plots:
        body += ["![Launch times against N](benchmarks/launch.png)", ""]
    section_store(results, body, targets)
    section_scale(results, body, targets, plots)
    section_failure(results, body, targets)
    section_waiters(results, body, targets)
    if targets:
        out += ["## Targets (issues #6, #11)", "", "| benchmark | target | measured | |",
                "|---|---|---|---|"]
        out += ["| %s | %s | %s | %s |" % t for t in targets]
        out.append("")
    out += body
    commentary = os.path.join(ROOT, "bench", "commentary.md")
    if os.path.exists(commentary) and results.get("mode") != "quick":
        with open(commentary) as f:
            out += [f.read().rstrip(), ""]
    if notes:
        out += ["## Notes from this run", ""] + ["- " + n for n in notes] + [""]
    os.makedirs(os.path.dirname(doc_path), exist_ok=True)
    with open(doc_path, "w") as f:
        f.write("\n".join(out))
    print("[bench] wrote %s%s" % (doc_path, "".join(" and " + p for p in plots.values())))
