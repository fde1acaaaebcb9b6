#!/usr/bin/env python3
"""The report of `qjit bench`: report.md and PNG plots from the JSON its steps left in DIR.

Reads meta.json (machine, device, versions, commit, steps run and skipped), the Google
Benchmark outputs (jit_bench.json; cpu_linear_bench.json, qgemm_cuda_bench.json or
qgemm_sim_bench.json) and the `qjit run --json` outputs (model_compile_cold.json,
model_compile_warm.json, forward.json). Every figure is a ratio against a baseline measured
in the same run, as the tables say. Plots with matplotlib (Agg: no display needed).

    bench_report.py DIR [--no-plots]
"""

import json
import os
import sys


def load(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def rows(bench):
    """Google Benchmark rows (iterations, not aggregates), skipped rows dropped."""
    if not bench:
        return []
    return [b for b in bench.get("benchmarks", []) if b.get("run_type", "iteration") == "iteration" and not b.get("error_occurred")]


def skipped_rows(bench):
    if not bench:
        return []
    return [b for b in bench.get("benchmarks", []) if b.get("error_occurred")]


def ms(b):
    """A row's real time in milliseconds."""
    unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b.get("time_unit", "ns")]
    return b["real_time"] * unit


def table(header, body):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in body]
    return "\n".join(out) + "\n"


def jit_section(bench, plots):
    r = {b["name"]: b for b in rows(bench)}
    if not r:
        return ""
    cold = next((b for n, b in r.items() if n.startswith("BM_ColdCompile/2")), None)
    base = ms(cold) if cold else None
    body = []
    for name, b in r.items():
        t = ms(b)
        label = b.get("label", "")
        ratio = f"{base / t:.3g}x" if base else "-"
        body.append([name.split("/iterations")[0], label, f"{t:.4g} ms", ratio])
    md = "## JIT\n\nEach row's time, and how many times faster than the cold NVRTC compile for sm_90 of the same run (the baseline: the first row marked sm_90).\n\n"
    md += table(["row", "label", "time", "x cold sm_90 compile"], body)
    return md


def kernels_section(meta, cpu, cuda, sim, plots):
    md = ""
    if rows(cpu):
        r = rows(cpu)
        by = {}
        for b in r:
            lib, m, n, k, t = b["name"].split("/")[:5]
            by.setdefault((int(m), int(n), int(k), int(t)), {})[lib] = b
        body, labels, x_dnnl, x_blas = [], [], [], []
        for key in sorted(by):
            d = by[key]
            if "qjit_int8" not in d:
                continue
            q = d["qjit_int8"]
            dn = d.get("onednn_int8")
            ob = d.get("openblas_sgemm")
            rd = ms(dn) / ms(q) if dn else None
            rb = ms(ob) / ms(q) if ob else None
            peak = q.get("vnni_peak_GOPS")
            body.append([*key, f"{q['GOPS']:.0f}", f"{rd:.2f}" if rd else "-", f"{rb:.1f}" if rb else "-",
                         f"{100 * q['GOPS'] / peak:.0f} %" if peak else "-"])
            labels.append("{}x{}x{}/{}t".format(*key))
            x_dnnl.append(rd or 0)
            x_blas.append(rb or 0)
        ctx = cpu.get("context", {})
        md += "## Kernels: the cpu int8 W8A8 linear at Wan2.1 shapes\n\n"
        md += (f"qjit's linear (activation quantization included) against oneDNN's int8 matmul with its quantization passes "
               f"(`{next((b.get('label') for b in r if b['name'].startswith('onednn')), '?')}`) and OpenBLAS sgemm "
               f"(`{ctx.get('openblas_core', '?')}`), same threads, same run; above 1 is faster. qjit ISA: "
               f"`{ctx.get('qjit_isa', '?')}`; % of peak against one 512-bit vpdpbusd per cycle per core at the measured "
               f"{float(ctx.get('clock_ghz', 0) or 0):.2f} GHz.\n\n")
        md += table(["M", "N", "K", "threads", "qjit GOPS", "x oneDNN int8", "x OpenBLAS sgemm", "% of VNNI peak"], body)
        plots.append(("kernels_speedup.png", "Speed-up per shape (cpu)", labels,
                      {"x oneDNN int8": x_dnnl, "x OpenBLAS sgemm": x_blas}))
    if rows(cuda):
        body, labels, x_bf16, x_int8 = [], [], [], []
        for b in rows(cuda):
            body.append([b["name"], f"{b['kernel_us']:.1f}", f"{b['TOPS']:.1f}", f"{b['x_vs_bf16']:.2f}", f"{b['x_vs_int8']:.2f}",
                         f"{b['quant_overhead']:.3f}" if "quant_overhead" in b else "-"])
            labels.append(b["name"].replace("qgemm_", ""))
            x_bf16.append(b["x_vs_bf16"])
            x_int8.append(b["x_vs_int8"])
        md += "## Kernels: GEMM families at Wan2.1 shapes on the GPU\n\n"
        md += "GPU time of the kernels each op launched (CUDA events) against cuBLASLt's bf16 GEMM and int8 IMMA GEMM, same shape, same run; above 1 is faster.\n\n"
        md += table(["row", "us", "TOPS", "x cuBLASLt bf16", "x cuBLASLt int8", "quant overhead"], body)
        plots.append(("kernels_speedup.png", "Speed-up per shape (cuda)", labels, {"x cuBLASLt bf16": x_bf16, "x cuBLASLt int8": x_int8}))
    if rows(sim):
        body = []
        for b in rows(sim):
            body.append([b["name"], b.get("label", ""), f"{b.get('bank_conflicts', 0):.0f}", f"{b.get('gld_efficiency', 0):.3f}",
                         f"{b.get('gst_efficiency', 0):.3f}", f"{b.get('warp_inst_per_output', 0):.3f}"])
        md += "## Kernels: the sim's counters per family and config\n\n"
        md += "Counters of the interpreter (not times): shared-memory bank conflicts (target 0), global load and store efficiency (target >= 0.9 for loads), warp instructions per output element.\n\n"
        md += table(["row", "config", "bank conflicts", "gld efficiency", "gst efficiency", "warp inst / output"], body)
    for name, bench in (("cpu_linear_bench", cpu), ("qgemm_cuda_bench", cuda), ("qgemm_sim_bench", sim)):
        for b in skipped_rows(bench):
            md += f"- skipped `{b['name']}`: {b.get('error_message', '')}\n"
    return md


def compile_section(cold, warm, plots):
    if not cold or not warm:
        return ""
    c, w = cold.get("total_ms", 0), warm.get("total_ms", 0)
    md = "## Whole model: every kernel of a Wan2.1-1.3B forward under int8\n\n"
    md += (f"{cold.get('programs', 0)} programs for {cold.get('archs', '?')} (NVRTC), from an empty cache and then from the warm one "
           f"(the plan of the forward included); targets 3 s cold, 50 ms warm on 2 cores.\n\n")
    md += table(["cache", "programs", "cache hits", "ms", "x cold"],
                [["cold", cold.get("programs"), cold.get("cache_hits"), f"{c:.0f}", "1"],
                 ["warm", warm.get("programs"), warm.get("cache_hits"), f"{w:.1f}", f"{c / w:.0f}" if w else "-"]])
    plots.append(("compile.png", "Wan2.1-1.3B int8 kernels: compile (ms, log)", ["cold", "warm"], {"ms": [c, w]}, True))
    return md


def forward_section(forward, plots):
    acc = (forward or {}).get("accuracy", [])
    rules = acc if isinstance(acc, list) else []
    if not rules:
        return ""
    body, labels, speed = [], [], []
    for r in rules:
        q, ref = r.get("forward_seconds", 0), r.get("reference_forward_seconds", 0)
        s = ref / q if q else 0
        body.append([r["rule"], f"{ref:.3f}", f"{q:.3f}", f"{s:.2f}", f"{r['end_to_end'].get('snr_db', 0):.1f}"])
        labels.append(r["rule"])
        speed.append(s)
    device = rules[0].get("device", "?")
    note = rules[0].get("device_note", "")
    note = note[:1].upper() + note[1:] + ("." if note and not note.endswith(".") else "")
    md = "## The Wan2.1 forward per rule\n\n"
    md += (f"On `{device}`: the quantized forward against the unquantized one (same inputs, same run; median of 3 where the "
           f"device times), and the output's SNR against it. {note}\n\n")
    md += table(["rule", "unquantized s", "quantized s", "speed-up", "SNR dB"], body)
    plots.append(("forward_speedup.png", f"Forward speed-up per rule against unquantized ({device})", labels, {"speed-up": speed}))
    return md


def draw(dir_, plots):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for spec in plots:
        name, title, labels, series = spec[:4]
        log = len(spec) > 4 and spec[4]
        fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(labels) + 3), 4.2))
        width = 0.8 / max(1, len(series))
        for i, (label, values) in enumerate(series.items()):
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
            ax.bar(xs, values, width, label=label)
        if not log:
            ax.axhline(1.0, color="black", linewidth=0.8)
        else:
            ax.set_yscale("log")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        ax.set_title(title)
        if len(series) > 1:
            ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(dir_, name), dpi=110)
        plt.close(fig)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    d = argv[1]
    no_plots = "--no-plots" in argv[2:]
    meta = load(os.path.join(d, "meta.json")) or {}
    plots = []
    parts = [jit_section(load(os.path.join(d, "jit_bench.json")), plots),
             kernels_section(meta, load(os.path.join(d, "cpu_linear_bench.json")), load(os.path.join(d, "qgemm_cuda_bench.json")),
                             load(os.path.join(d, "qgemm_sim_bench.json")), plots),
             compile_section(load(os.path.join(d, "model_compile_cold.json")), load(os.path.join(d, "model_compile_warm.json")), plots),
             forward_section(load(os.path.join(d, "forward.json")), plots)]
    md = "# qjit bench\n\n"
    facts = [("date", meta.get("date")), ("commit", meta.get("commit")), ("device", meta.get("device")),
             ("GPU", meta.get("device_name")), ("arch", meta.get("arch")), ("cpu", meta.get("cpu")),
             ("cores", meta.get("cores")), ("memory", meta.get("memory")), ("kernel", meta.get("kernel")),
             ("NVRTC", meta.get("nvrtc")), ("host compiler", meta.get("host_compiler")),
             ("run", "quick (smoke)" if meta.get("quick") else "full"), ("seconds", f"{meta.get('seconds', 0):.0f}")]
    md += table(["", ""], [[k, v] for k, v in facts if v not in (None, "")])
    md += "\n" + "\n".join(p for p in parts if p)
    skipped = meta.get("skipped", [])
    if skipped:
        md += "\n## Skipped\n\n" + "".join(f"- {s['step']} ({s['what']}): {s['reason']}\n" for s in skipped)
    if not no_plots and plots:
        draw(d, plots)
        md += "\n## Plots\n\n" + "".join(f"![{p[1]}]({p[0]})\n\n" for p in plots)
    with open(os.path.join(d, "report.md"), "w") as f:
        f.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
