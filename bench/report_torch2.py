"""docs/benchmarks.md's section on torchrun 2.x (bench/torch2_side.py's results)."""


def section_torch2(results, out, targets, cell, fmt, verdict):
    """Appends the section to `out` and its two targets (issue #11) to `targets`;
    `cell`, `fmt` and `verdict` are bench/report.py's formatters."""
    t2 = results.get("torch2")
    if not t2:
        return
    if t2.get("skipped"):
        out += ["## 2b. Against torchrun 2.x", "", "Not measured: %s." % t2["skipped"], ""]
        return
    x = lambda v, d=1: fmt(v, d) + "×" if v else "—"
    out += ["## 2b. Against torchrun 2.x (PyTorch %s)" % t2.get("torch_version"), "",
            "torchrun 2.x and its workers run inside the Debian 13 root of "
            "scripts/torch2_root.sh (Debian 12's own PyTorch is 1.13); tplaunch runs on the "
            "host and starts each PyTorch worker through the root's python3. Entering the "
            "root (a private mount namespace, binds and a chroot) costs %s ms per entry "
            "(median, min–max), measured in this run: torchrun pays it once per launch, "
            "tplaunch once per worker. Nothing is subtracted." %
            cell(t2.get("root_entry_ms")), "",
            "### Launcher overhead: N × `/bin/true`", "",
            "`tplaunch --nproc N /bin/true` against `torchrun --standalone --no-python "
            "--nproc-per-node N --monitor-interval 0.1 /bin/true`. Milliseconds, median "
            "(min–max).", "",
            "| N | tplaunch | torchrun 2.x | torchrun 2.x / tplaunch |", "|---|---|---|---|"]
    for r in t2.get("launch_rows", []):
        out.append("| %d | %s | %s | %s |" % (r["n"], cell(r.get("tplaunch_ms")),
                                             cell(r.get("torchrun2_ms"), 0),
                                             x(r.get("speedup"))))
    out += ["", "### Launch to the first allreduce, the same PyTorch script", "",
            "bench/worker_lib_torch_first_allreduce.py (`init_process_group(\"gloo\")` over "
            "env://, one `all_reduce`) under torchrun 2.x (its c10d store in the agent, "
            "2.x's default) and under tplaunch with each of its stores: rank 0's TCPStore "
            "(the default) and `--torch-store agent` (tprdzvd's TCPStore listener in the "
            "launcher). Milliseconds, median (min–max).", "",
            "| N | torchrun 2.x | tplaunch | tplaunch --torch-store agent | "
            "torchrun 2.x / tplaunch | same, agent store |", "|---|---|---|---|---|---|"]
    for r in t2.get("allreduce_rows", []):
        out.append("| %d | %s | %s | %s | %s | %s |" % (
            r["n"], cell(r.get("torchrun2_torch_ms"), 0), cell(r.get("tplaunch_torch_ms"), 0),
            cell(r.get("tplaunch_agent_store_torch_ms"), 0),
            x(r.get("speedup_same_script"), 2), x(r.get("speedup_same_script_agent_store"), 2)))
    launch8 = next((r for r in t2.get("launch_rows", []) if r["n"] == 8), {})
    s = launch8.get("speedup")
    targets.append(("2b. launcher overhead at N = 8 vs torchrun 2.x", "≥ 50× less",
                    x(s), verdict(s >= 50 if s else None)))
    ar8 = next((r for r in t2.get("allreduce_rows", []) if r["n"] == 8), {})
    best = max(ar8.get("speedup_same_script") or 0,
               ar8.get("speedup_same_script_agent_store") or 0)
    targets.append(("2b. same script to first allreduce at N = 8 vs torchrun 2.x",
                    "≥ 1.5× sooner", x(best, 2) + " (the faster tplaunch store)" if best
                    else "—", verdict(best >= 1.5 if best else None)))
    out += ["", "Equal on both sides: the script, N, the machine, Gloo on loopback, the "
            "PyTorch build. Not equal: torchrun 2.x is Python importing torch (most of its "
            "overhead) and enters the root once; tplaunch is one C++ process whose workers "
            "each enter the root (the entry cost above, paid N times, counts against "
            "tplaunch).", ""]
