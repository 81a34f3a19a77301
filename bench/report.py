#!/usr/bin/python3
"""Turn the raw CSV of make bench into results.md, results.csv and plot data.

    bench/report.py RAW_CSV OUT_DIR --mode NAME=ACCELERATOR ...
                    [--judge NAME] [--kernel NAME=DESCRIPTION ...]

RAW_CSV lines are "<boot>,<mode>,<kernel>,<config>," followed by a line that
bench/guest-bench.sh wrote:

    reg,<label>,<bytes>,<rep>,<reg_ns>,<dereg_ns>,<iterations>[,<huge_kb>[,<runs>
        [,<reg_median_ns>,<dereg_median_ns>]]]
    send_bw,<rep>,<MB/s>
    pingpong,<rep>,<us_per_round_trip>
    dma_map,<attrs>,<rep>,<map_ns>,<unmap_ns>
    prof,<size>,<root>,<depth>,<function>,<calls>,<total_ns>
    skip,<label>,<bytes>,<reason>     (a size the guest could not measure)

and, from ci/bench.sh itself around each wall guest:

    host_probe,<ms>

<mode> says which clock a guest's times come from, and each --mode names
one and the accelerator that produced it: "wall" (host time passing under
ordinary TCG) and "counted" (guest virtual time under QEMU's instruction
counting, which host load does not move). Lines without a mode (raw.csv of
older runs) are wall figures. The goals are judged on the --judge mode
only (default: counted); the other modes' rows show their ratios and
intervals but no verdict. --kernel lines (for example each kernel's
config hash) are listed in the report as given.

Every figure is a median over the repetitions of all boots of a kernel
(the rounds of its mode, B2 one boot), with the minimum and maximum as its
spread; every comparison is a ratio of two medians measured in the same
make bench run, with a 95 % interval from a bootstrap over boots and
samples. Exit status 1 when a figure the report needs is missing.
"""
import argparse
import csv
import os
import random
import statistics
import sys
from collections import defaultdict

KINDS = ("reg", "send_bw", "pingpong", "dma_map", "prof", "host_probe", "skip")
CLOCKS = {"wall": "wall-clock time on the host (QEMU's clock follows the host)",
          "counted": "guest virtual time: executed instructions, not host time"}


def size_name(n):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} B"


def load(path):
    """samples[(mode, kernel, config, what, size, metric)] = [(boot, value), ...]"""
    samples = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) < 4:
                continue
            # Older raw.csv has no mode column: its row[3] is already a kind.
            if row[3] in KINDS:
                row = [row[0], "wall"] + row[1:]
            if len(row) < 5:
                continue
            boot, mode, kernel, config, kind, rest = row[0], row[1], row[2], row[3], row[4], row[5:]

            def add(what, size, metric, value):
                samples[(mode, kernel, config, what, size, metric)].append((boot, value))
            if kind == "reg":
                label, size, _rep, reg_ns, dereg_ns = rest[:5]
                add(label, int(size), "reg_us", int(reg_ns) / 1e3)
                if dereg_ns:
                    add(label, int(size), "dereg_us", int(dereg_ns) / 1e3)
                # How much of the buffer THP backed (reg_bench -p); older
                # lines do not say.
                if len(rest) > 6 and rest[6] not in ("", "-1"):
                    add(label, int(size), "huge_kb", int(rest[6]))
                # How many physically contiguous runs the buffer's pages
                # formed (newer reg_bench).
                runs = None
                if len(rest) > 7 and rest[7] not in ("", "-1"):
                    runs = int(rest[7])
                    add(label, int(size), "runs", runs)
                    add(label, int(size), "reg_us@runs", (int(reg_ns) / 1e3, runs))
                    if dereg_ns:
                        add(label, int(size), "dereg_us@runs", (int(dereg_ns) / 1e3, runs))
                # The median registration of the repetition (newer
                # reg_bench): what B1 compares, since a mean also takes in
                # whatever else ran meanwhile.
                for col, metric in ((8, "reg_med_us"), (9, "dereg_med_us")):
                    if len(rest) > col and rest[col]:
                        add(label, int(size), metric, int(rest[col]) / 1e3)
                        if runs is not None:
                            add(label, int(size), metric + "@runs", (int(rest[col]) / 1e3, runs))
            elif kind == "skip":
                add(rest[0], int(rest[1]), "skip", ",".join(rest[2:]))
            elif kind == "send_bw":
                add("send_bw", 0, "MB/s", float(rest[1]))
            elif kind == "pingpong":
                add("pingpong", 0, "us", float(rest[1]))
            elif kind == "dma_map":
                attrs, _rep, map_ns, unmap_ns = rest
                add("dma_map " + attrs, 0, "map_ns", int(map_ns))
                add("dma_map " + attrs, 0, "unmap_ns", int(unmap_ns))
            elif kind == "host_probe":
                add("host_probe", 0, "ms", int(rest[0]))
            elif kind == "prof":
                # One function_graph profile (guest-bench's profile
                # workload): what its depth and function add up to.
                size, root, depth, func, calls, total_ns = rest
                add("prof", parse_size(size), "calls", (root, int(depth), func, int(calls)))
                add("prof", parse_size(size), "ns", (root, int(depth), func, int(total_ns)))
    return samples


def parse_size(text):
    """4K, 64M, 1G or plain bytes."""
    shift = {"K": 10, "M": 20, "G": 30}.get(text[-1:], 0)
    return int(text[:-1] if shift else text) << shift


def by_boot(pairs):
    groups = defaultdict(list)
    for boot, v in pairs:
        groups[boot].append(v)
    return groups


class Report:
    def __init__(self, samples):
        self.s = samples
        self.rows = []      # results.csv
        self.md = []        # results.md
        self.missing = []
        self.mode = self.accel = None
        self.judged = True

    def stat(self, key):
        v = [x for _b, x in self.s.get(key, [])]
        if not v:
            self.missing.append("/".join(str(k) for k in key))
            return None
        return statistics.median(v), min(v), max(v), len(v)

    @staticmethod
    def fmt(st, digits=1):
        if st is None:
            return "missing"
        med, lo, hi, _n = st
        return f"{med:.{digits}f} [{lo:.{digits}f}–{hi:.{digits}f}]"

    @staticmethod
    def slope(pairs):
        """Least squares of a side's (latency, runs) samples: (mean runs,
        mean latency, Sxx, Sxt), for one slope or a pooled one."""
        xs = [r for _t, r in pairs]
        ts = [t for t, _r in pairs]
        mx, mt = statistics.fmean(xs), statistics.fmean(ts)
        return mx, mt, sum((x - mx) ** 2 for x in xs), sum((x - mx) * (t - mt) for x, t in zip(xs, ts))

    @classmethod
    def at_layout(cls, base, new, runs):
        """Both sides' latency at a layout of runs contiguous runs, from
        their (latency, runs) samples: t = a + b * runs with an intercept
        for each side and one slope for both (analysis of covariance). The
        cost per run is the page walking and mapping that both kernels
        share, and one slope fitted to both kernels' boots is steady where a
        slope for each, from three boots of two layouts each, swung the
        2 MiB ratio over several per cent. layout_note shows each kernel's
        own slope, so a series that changed the cost per run would still
        show. Where no sample's layout differs from another's, each side
        gives its median if its samples have that layout, else None."""
        fb, fn = cls.slope(base), cls.slope(new)
        sxx = fb[2] + fn[2]
        if not sxx:
            if fb[0] != runs or fn[0] != runs:
                return None, None
            return statistics.median(t for t, _r in base), statistics.median(t for t, _r in new)
        b = (fb[3] + fn[3]) / sxx
        return fb[1] + b * (runs - fb[0]), fn[1] + b * (runs - fn[0])

    def ratio_ci(self, base_key, new_key, rounds=2000, layout=False):
        """95 % interval of median(new) / median(base) by a two-level
        bootstrap: boots are drawn with replacement, then samples within each
        drawn boot. Samples of one boot are not independent (a boot can be
        twice as fast as the next), so resampling samples alone would claim
        a precision the data does not have. When both sides come from the
        same boots (B2, B4) the boots are drawn once for both."""
        gb, gn = by_boot(self.s[base_key]), by_boot(self.s[new_key])
        paired = set(gb) == set(gn)
        rng = random.Random(12)   # the same data always gives the same report

        def draw(groups, boots):
            out = []
            for b in boots:
                out += rng.choices(groups[b], k=len(groups[b]))
            return out
        rs = []
        for _ in range(rounds):
            bb = rng.choices(sorted(gb), k=len(gb))
            bn = bb if paired else rng.choices(sorted(gn), k=len(gn))
            db, dn = draw(gb, bb), draw(gn, bn)
            if layout:
                at = statistics.median([r for _t, r in db + dn])
                mb, mn = self.at_layout(db, dn, at)
                if mb is None or mn is None:
                    continue
            else:
                mb, mn = statistics.median(db), statistics.median(dn)
            if mb:
                rs.append(mn / mb)
        if not rs:
            return None, None
        rs.sort()
        return rs[int(0.025 * len(rs))], rs[int(0.975 * len(rs)) - 1]

    def compare(self, bench, what, base_key, new_key, goal, base_name, new_name, digits=1):
        """One table row; the keys leave out the mode, which is the section's.
        goal is (low, high): the ratios that meet it. "met" is yes when the
        whole 95 % interval of the ratio lies inside, no when it lies wholly
        outside, otherwise the noise is larger than the goal. Modes that are
        not judged get no verdict."""
        base_key, new_key = (self.mode, *base_key), (self.mode, *new_key)
        g_lo, g_hi = goal
        goal_txt = f"≤ {g_hi}" if g_lo is None else f"≥ {g_lo}" if g_hi is None else f"{g_lo}–{g_hi}"
        g_lo = float("-inf") if g_lo is None else g_lo
        g_hi = float("inf") if g_hi is None else g_hi
        b, n = self.stat(base_key), self.stat(new_key)
        ratio = n[0] / b[0] if b and n and b[0] else None
        lo = hi = None
        met = ""
        # Where every sample says how its buffer was laid out, compare the
        # two sides at the same layout: each side's least-squares line of
        # latency against contiguous runs, read at the median runs of both.
        lb, ln = (k[:-1] + (k[-1] + "@runs",) for k in (base_key, new_key))
        layout = None
        if ratio is not None and b and n and len(self.s.get(lb, [])) == b[3] and len(self.s.get(ln, [])) == n[3]:
            at = statistics.median([r for _b, (_t, r) in self.s[lb] + self.s[ln]])
            eb, en = self.at_layout([p for _b, p in self.s[lb]], [p for _b, p in self.s[ln]], at)
            if eb and en is not None:
                ratio, layout, base_key, new_key = en / eb, at, lb, ln
        if ratio is not None:
            lo, hi = self.ratio_ci(base_key, new_key, layout=layout is not None)
            if lo is None:
                met = "not resolved"
            else:
                met = "yes" if g_lo <= lo and hi <= g_hi else \
                    "no" if hi < g_lo or lo > g_hi else "not resolved"
            if not self.judged:
                met = f"not judged ({self.mode})"
        ci = "—" if ratio is None else f"{ratio:.3f} ({lo:.3f}–{hi:.3f})" if lo is not None else f"{ratio:.3f} (—)"
        if layout is not None:
            ci += f" at {layout:g} runs"
        self.md.append(f"| {what} | {self.fmt(b, digits)} | {self.fmt(n, digits)} | {ci} | {goal_txt} | {met} |")
        self.rows.append([self.mode, self.accel, bench, what, base_name, *(b[:3] if b else ["", "", ""]),
                          new_name, *(n[:3] if n else ["", "", ""]),
                          "" if ratio is None else f"{ratio:.4f}",
                          "" if lo is None else f"{lo:.4f}", "" if hi is None else f"{hi:.4f}", goal_txt, met,
                          "" if layout is None else f"{layout:g}"])
        return ratio

    def table(self, title, base_col, new_col, note=None):
        self.md += ["", f"### {title} — {self.mode} figures", ""]
        if note:
            self.md += [note, ""]
        self.md += [f"| measurement | {base_col} | {new_col} | ratio (95 % interval) | goal | met |",
                    "| --- | ---: | ---: | ---: | --- | --- |"]


def layout_note(r, sizes):
    """How physically contiguous B1's buffers were on each kernel. The cost
    of registering and deregistering grows with the number of contiguous
    runs (a 64 MiB buffer in one run deregisters several times faster than
    in 12,000), and the page allocator hands each buffer a new layout, so
    B1 compares the kernels at the same layout (compare's at_layout); this
    table shows what layouts each kernel's samples had."""
    rows = []
    for size in sizes:
        med, per_run = {}, {}
        for k in ("nogate", "patched"):
            v = [x for _b, x in r.s.get((r.mode, k, "direct", "reg-ok", size, "runs"), [])]
            med[k] = (statistics.median(v), min(v), max(v)) if v else None
            # this kernel's own cost per run, registration and deregistration,
            # where its layouts spread over ten runs or more
            for op in ("reg_us", "dereg_us"):
                pts = [p for _b, p in r.s.get((r.mode, k, "direct", "reg-ok", size,
                                               b1_metric(r, size, op) + "@runs"), [])]
                xs = [x for _t, x in pts]
                f = Report.slope(pts) if xs and max(xs) - min(xs) >= 10 else None
                per_run[k, op] = f"{f[3] / f[2] * 1e3:.0f}" if f else "—"
        if None in med.values():
            continue
        rows.append(f"| {size_name(size)} | " + " | ".join(f"{m[0]:g} [{m[1]}–{m[2]}]" for m in
                                                          (med["nogate"], med["patched"])) + " | " +
                    " | ".join(per_run[k, op] for op in ("reg_us", "dereg_us") for k in ("nogate", "patched")) +
                    " |")
    if rows:
        r.md += ["", "Physically contiguous runs per B1 buffer, median [min–max] (reg_bench reads them "
                 "from /proc/self/pagemap). Latency grows with them and every buffer gets a new layout, "
                 "so where the samples give them, B1's ratios compare the kernels at the same number of "
                 "runs (\"at N runs\": a least-squares line of latency against runs for each kernel, with "
                 "one slope fitted to both, read at the median runs of both), with the same bootstrap. "
                 "The last four columns are each kernel's own slope, ns per run: a series that made each "
                 "run dearer would show there.", "",
                 "| size | nogate runs | patched runs | reg ns/run, nogate | reg ns/run, patched "
                 "| dereg ns/run, nogate | dereg ns/run, patched |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"] + rows


def section(r, sizes, benches=("B1", "B2", "B3", "B4")):
    """B1 to B4 (those in benches) for the current mode of r."""
    if "B1" in benches:
        section_b1(r, sizes)
    if "B2" in benches:
        section_b2(r, sizes)
    if "B3" in benches:
        section_b3(r)
    if "B4" in benches:
        section_b4(r)


def b1_metric(r, size, m):
    """B1 compares each repetition's median registration (m + "_med") where
    both kernels' samples have it, else its mean (older reg_bench)."""
    med = m.replace("_us", "_med_us")
    keys = [(r.mode, k, "direct", "reg-ok", size, med) for k in ("nogate", "patched")]
    return med if all(r.s.get(k) for k in keys) else m


def section_b1(r, sizes):
    r.table("B1 — ibv_reg_mr / ibv_dereg_mr, success path (test-mode rxe, direct), µs",
            "baseline", "patched",
            "Baseline is the *nogate* kernel: the same kernel with only the rxe test-mode "
            "patches, because stock rxe has no test mode. Goal: patched ÷ baseline ≤ 1.01. "
            "A sample is one repetition's median call (its mean where reg_bench did not "
            "give the median): a mean also takes in whatever else ran meanwhile, which under "
            "instruction counting includes the other vCPU's work.")
    for size in sizes:
        for m, name in (("reg_us", "reg"), ("dereg_us", "dereg")):
            m = b1_metric(r, size, m)
            r.compare("B1", f"{name} {size_name(size)}",
                      ("nogate", "direct", "reg-ok", size, m), ("patched", "direct", "reg-ok", size, m),
                      (None, 1.01), "nogate", "patched")
    layout_note(r, sizes)


def section_b2(r, sizes):
    r.table("B2 — refused ibv_reg_mr (patched, test-mode rxe, swiotlb), µs",
            "first", "second",
            "Early refusal happens before any page is pinned; late refusal is the same "
            "kernel with /sys/kernel/debug/ib_umem/early_refusal off, so it pins every "
            "page, fails the mapping and unpins.")
    if sizes:
        small, big = sizes[0], sizes[-1]
        r.compare("B2", f"early refusal, {size_name(big)} ÷ {size_name(small)}",
                  ("patched", "swiotlb", "refuse-early", small, "reg_us"),
                  ("patched", "swiotlb", "refuse-early", big, "reg_us"),
                  (None, 1.5), size_name(small), size_name(big))
        r.compare("B2", f"late ÷ early refusal, {size_name(big)}",
                  ("patched", "swiotlb", "refuse-early", big, "reg_us"),
                  ("patched", "swiotlb", "refuse-late", big, "reg_us"),
                  (100, None), "early", "late")


def section_b3(r):
    r.table("B3 — stock rxe (direct), both tools waiting for completion events (-e)", "stock", "patched",
            "Goal: within 2 % (0.98–1.02).")
    r.compare("B3", "ib_send_bw -e 64 KiB, MB/s", ("stock", "direct", "send_bw", 0, "MB/s"),
              ("patched", "direct", "send_bw", 0, "MB/s"), (0.98, 1.02), "stock", "patched", 2)
    r.compare("B3", "ibv_rc_pingpong -e 2 B, µs per round trip", ("stock", "direct", "pingpong", 0, "us"),
              ("patched", "direct", "pingpong", 0, "us"), (0.98, 1.02), "stock", "patched", 2)


def section_b4(r):
    r.table("B4 — dma_map_benchmark, one page, 64-bit mask (patched, direct), ns",
            "no attributes", "REQUIRE_COHERENT", "Goal: with ÷ without ≤ 1.01.")
    for m in ("map_ns", "unmap_ns"):
        r.compare("B4", m.replace("_ns", ""), ("patched", "direct", "dma_map 0", 0, m),
                  ("patched", "direct", "dma_map 0x1000", 0, m), (None, 1.01),
                  "attrs 0", "attrs 0x1000", 0)


# The scale curves: (name, kernel, config, reg_bench label).
SCALE_CURVES = (
    ("nogate, success", "nogate", "direct", "scale-ok"),
    ("patched, success", "patched", "direct", "scale-ok"),
    ("patched, early refusal", "patched", "swiotlb", "scale-early"),
    ("patched, late refusal", "patched", "swiotlb", "scale-late"),
)
PAGE = 4096


def fit(points):
    """Fit t = a + b * pages to (pages, t) by least squares on relative
    residuals (weights 1/t²), so that 4 KiB weighs as much as 4 GiB in a
    curve that spans six decades. Returns (a, b, worst relative residual),
    or None for fewer than two points."""
    pts = [(p, t) for p, t in points if t > 0]
    if len(pts) < 2:
        return None
    w = [1 / t ** 2 for _p, t in pts]
    sw = sum(w)
    swp = sum(wi * p for wi, (p, _t) in zip(w, pts))
    swpp = sum(wi * p * p for wi, (p, _t) in zip(w, pts))
    swt = sum(wi * t for wi, (_p, t) in zip(w, pts))
    swpt = sum(wi * p * t for wi, (p, t) in zip(w, pts))
    det = sw * swpp - swp * swp
    if not det:
        return None
    a = (swt * swpp - swp * swpt) / det
    b = (sw * swpt - swp * swt) / det
    worst = max(abs(a + b * p - t) / t for p, t in pts)
    return a, b, worst


def scale_section(r, s, mode, out_dir):
    """The scale curves of one mode: medians per size, a fitted fixed cost
    and cost per page for each curve, and how flat early refusal is. Writes
    scale-MODE.dat for the plot and scale-MODE.csv; returns False when the
    run has no scale curves."""
    sizes = sorted({k[4] for k in s if k[0] == mode and k[3].startswith("scale-") and k[5] == "reg_us"})
    if not sizes:
        return False
    med, skipped = {}, {}
    for name, kernel, config, label in SCALE_CURVES:
        for size in sizes:
            v = [x for _b, x in s.get((mode, kernel, config, label, size, "reg_us"), [])]
            med[name, size] = statistics.median(v) if v else None
            why = s.get((mode, kernel, config, label, size, "skip"))
            if why:
                skipped[name, size] = why[0][1]
            elif not v:
                r.missing.append(f"{mode}/{kernel}/{config}/{label}/{size}/reg_us")
    r.md += ["", f"### Scale — ibv_reg_mr latency from {size_name(sizes[0])} to {size_name(sizes[-1])}, "
             f"{mode} figures, µs (medians)", "",
             "The baseline is the *nogate* kernel: stock 6.12's mapping code on test-mode rxe (stock rxe "
             "never maps user memory for DMA, so a stock-kernel curve would measure no mapping at all).", "",
             "| size | " + " | ".join(n for n, *_ in SCALE_CURVES) + " |",
             "| ---: |" + " ---: |" * len(SCALE_CURVES)]
    for size in sizes:
        cells = [("not measured" if (n, size) in skipped else "missing") if med[n, size] is None
                 else f"{med[n, size]:.1f}" for n, *_ in SCALE_CURVES]
        r.md.append(f"| {size_name(size)} | " + " | ".join(cells) + " |")
    # In the table's order (sizes, then curves), whatever the hash seed.
    order = [n for n, *_ in SCALE_CURVES]
    for why in sorted(set(skipped.values())):
        which = sorted(((n, sz) for (n, sz), w in skipped.items() if w == why),
                       key=lambda x: (x[1], order.index(x[0])))
        r.md += ["", "Not measured: " + "; ".join(f"{n} at {size_name(sz)}" for n, sz in which) +
                 f". The guest said why: {why}."]
    r.md += ["", "Fitted by least squares on relative residuals: latency = fixed + per page × (size ÷ 4 KiB).", "",
             "| curve | fixed, µs | per 4 KiB page, ns | largest deviation from the fit |",
             "| --- | ---: | ---: | ---: |"]
    fits = {}
    for name, *_ in SCALE_CURVES:
        f = fit([(size / PAGE, med[name, size]) for size in sizes if med[name, size] is not None])
        fits[name] = f
        r.md.append(f"| {name} | " + ("— | — | —" if f is None else
                                     f"{f[0]:.1f} | {f[1] * 1e3 if abs(f[1]) >= 5e-6 else 0.0:.2f} | {f[2] * 100:.0f} %") + " |")
    lo, hi = med["patched, early refusal", sizes[0]], med["patched, early refusal", sizes[-1]]
    flat = hi / lo if lo and hi else None
    r.md += ["", "Early refusal, " + size_name(sizes[-1]) + " ÷ " + size_name(sizes[0]) + ": " +
             ("missing" if flat is None else f"**{flat:.2f}**") +
             " (flat means no work per page: the refusal comes before anything is pinned)."]
    with open(os.path.join(out_dir, f"scale-{mode}.dat"), "w") as f:
        f.write(f"# {mode}: bytes " + " ".join(lbl.replace("scale-", f"{k}_") for _n, k, _c, lbl in SCALE_CURVES) + "\n")
        for size in sizes:
            f.write(f"{size} " + " ".join("NaN" if med[n, size] is None else f"{med[n, size]:.3f}"
                                         for n, *_ in SCALE_CURVES) + "\n")
    with open(os.path.join(out_dir, f"scale-{mode}.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mode", "curve", "bytes", "median_us"])
        for name, *_ in SCALE_CURVES:
            for size in sizes:
                w.writerow([mode, name, size, "" if med[name, size] is None else f"{med[name, size]:.3f}"])
        w.writerow([])
        w.writerow(["mode", "curve", "fixed_us", "per_page_ns", "worst_relative_residual"])
        for name, *_ in SCALE_CURVES:
            fi = fits[name]
            w.writerow([mode, name] + (["", "", ""] if fi is None else
                                       [f"{fi[0]:.3f}", f"{fi[1] * 1e3:.3f}", f"{fi[2]:.4f}"]))
        w.writerow([mode, "early refusal largest/smallest", "", "", "" if flat is None else f"{flat:.4f}"])
    return True


def profile_section(r, s, mode):
    """Where one registration's time goes on the nogate and the patched
    kernel: function_graph sums per callee of ib_umem_get and
    ib_umem_release, per call of the root. Returns False when the run has
    no profile in this mode."""
    keys = {k for k in s if k[0] == mode and k[3] == "prof" and k[5] == "ns"}
    sizes = sorted({k[4] for k in keys})
    if not sizes:
        return False
    size = sizes[-1]
    per = {}      # (kernel, root, depth, func) -> (µs per root call, calls per root call)
    for kernel in ("nogate", "patched"):
        ns = s.get((mode, kernel, "direct", "prof", size, "ns"), [])
        calls = {(root, d, f): c for _b, (root, d, f, c) in s.get((mode, kernel, "direct", "prof", size, "calls"), [])}
        roots = {root: calls[root, 0, f] for (root, d, f) in calls if d == 0 and f == root}
        if not ns or not roots:
            r.missing.append(f"{mode}/{kernel}/direct/prof/{size}")
            continue
        for _b, (root, d, f, t) in ns:
            if root in roots:
                per[kernel, root, d, f] = (t / roots[root] / 1e3, calls[root, d, f] / roots[root])
    funcs = sorted({k[1:] for k in per}, key=lambda k: (k[0] != "ib_umem_get", k[1],
                   -max(per.get((kn, *k), (0, 0))[0] for kn in ("nogate", "patched")), k[2]))
    r.md += ["", f"### Where a {size_name(size)} registration spends its time — {mode} figures", "",
             "function_graph under ib_umem_get (ibv_reg_mr) and ib_umem_release (ibv_dereg_mr), three "
             "levels deep, interrupts left out; two registrations (reg_bench's untimed calibration and "
             "one timed), on each kernel. "
             "µs per call of the root, and calls per call of the root. Tracing slows every traced "
             "call, alike on both kernels: compare the kernels, not these values with B1. "
             "Only functions that take at least 1 % of their root on either kernel are listed.", "",
             "| function | depth | nogate, µs | patched, µs | patched − nogate, µs | calls (nogate / patched) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for root, d, f in funcs:
        a, b = per.get(("nogate", root, d, f)), per.get(("patched", root, d, f))
        tot = max(per.get((kn, root, 0, root), (0, 0))[0] for kn in ("nogate", "patched"))
        if d and max(x[0] for x in (a, b) if x) < 0.01 * tot:
            continue
        name = ("&nbsp;&nbsp;" * d) + ("**" + f + "**" if d == 0 else f)

        def cell(x, i, fmt):
            return "—" if x is None else format(x[i], fmt)
        diff = "—" if a is None or b is None else f"{b[0] - a[0]:+.1f}"
        r.md.append(f"| {name} | {d} | {cell(a, 0, '.1f')} | {cell(b, 0, '.1f')} | {diff} | "
                    f"{cell(a, 1, 'g')} / {cell(b, 1, 'g')} |")
    # What only one kernel calls is a difference in code, however small.
    for kernel, other in (("nogate", "patched"), ("patched", "nogate")):
        only = [f"{f} {per[kernel, root, d, f][0]:.1f} µs" for root, d, f in funcs
                if (kernel, root, d, f) in per and (other, root, d, f) not in per]
        if only and any(k[0] == other for k in per):
            r.md += ["", f"Callees only {kernel} calls: " + ", ".join(only) + "."]
    # The traced buffer's layout on each kernel: time in the pin and unpin
    # paths follows its contiguous runs, as in B1.
    lay = {k: [x for _b, x in s.get((mode, k, "direct", "profile", size, "runs"), [])] for k in ("nogate", "patched")}
    if all(lay.values()):
        r.md += ["", "The traced buffer was in " + " and ".join(f"{lay[k][-1]:g} contiguous runs on {k}" for k in lay) +
                 "; where these differ, so do the unpin calls and the time of the per-run loops, "
                 "whatever the code."]
    for root in ("ib_umem_get", "ib_umem_release"):
        a, b = per.get(("nogate", root, 0, root)), per.get(("patched", root, 0, root))
        if a and b and a[0]:
            r.md += ["", f"{root}: patched ÷ nogate = **{b[0] / a[0]:.3f}** under tracing."]
    return True


def host_note(s, mode):
    """The spread of the host's own speed over this run's guests of a mode
    (ci/bench.sh's host_probe), or "" when none was taken."""
    v = [x for k, pts in s.items() if k[0] == mode and k[3] == "host_probe" for _b, x in pts]
    if not v:
        return ""
    return (f" Host speed probe (hashing 256 MiB on the host before and after each guest, {len(v)} times): "
            f"{min(v) / 1e3:.2f}–{max(v) / 1e3:.2f} s, slowest ÷ fastest = **{max(v) / min(v):.2f}**; "
            "wall figures move with it.")


def thp_note(s, mode):
    """Which pages backed the registered buffers (reg_bench's huge_kb)."""
    v = [(k, x) for k, pts in s.items() if k[0] == mode and k[5] == "huge_kb" for _b, x in pts]
    if not v:
        return "THP backing of the buffers: not recorded (an older reg_bench)."
    huge = [(k, x) for k, x in v if x > 0]
    if not huge:
        return f"THP backing of the buffers: none; 4 KiB pages only in all {len(v)} samples."
    return (f"THP backing of the buffers: huge pages in {len(huge)} of {len(v)} samples, "
            f"up to {max(x for _k, x in huge)} kB.")


def pairs(values, opt):
    out = {}
    for v in values:
        name, sep, text = v.partition("=")
        if not sep or not name:
            sys.exit(f"report.py: {opt} wants NAME=TEXT, got '{v}'")
        out[name] = text
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--mode", action="append", required=True, metavar="NAME=ACCELERATOR")
    ap.add_argument("--judge", default="counted")
    ap.add_argument("--kernel", action="append", default=[], metavar="NAME=DESCRIPTION")
    ap.add_argument("--benches", default="B1,B2,B3,B4", help="which benchmarks the run has (default all)")
    ap.add_argument("--note", action="append", default=[], metavar="TEXT",
                    help="a paragraph for the top of the report (ci/bench.sh: guests that crashed and were rerun)")
    a = ap.parse_args()
    benches = a.benches.split(",")
    if not benches or any(b not in ("B1", "B2", "B3", "B4") for b in benches):
        sys.exit(f"report.py: --benches wants a comma-separated list of B1, B2, B3, B4, got '{a.benches}'")
    modes = pairs(a.mode, "--mode")
    for m in modes:
        if m not in CLOCKS:
            sys.exit(f"report.py: unknown mode '{m}' (wall or counted)")
    if a.judge not in modes:
        sys.exit(f"report.py: --judge {a.judge} is not one of the --mode names")
    kernels = pairs(a.kernel, "--kernel")

    s = load(a.raw)
    r = Report(s)
    os.makedirs(a.out, exist_ok=True)
    sizes = sorted({k[4] for k in s if k[3] in ("reg-ok", "refuse-early")})
    # Boots per kernel in each mode: those of the patched direct guests.
    boots = {m: len({b for k, pts in s.items() if k[:3] == (m, "patched", "direct") and k[3] == "reg-ok"
                     for b, _x in pts}) for m in modes}
    r.md += [f"## make bench: {', '.join(benches)}, the patched kernel against its baselines "
             "(median [min–max] over all boots of a kernel)",
             "", f"Goals are judged on the **{a.judge}** figures only.", "",
             "| mode | clock | accelerator | boots per kernel |", "| --- | --- | --- | ---: |"]
    r.md += [f"| {m} | {CLOCKS[m]} | {acc} | {boots[m]} |" for m, acc in modes.items()]
    if kernels:
        r.md += ["", "| kernel | configuration |", "| --- | --- |"]
        r.md += [f"| {k} | {d} ([.config](config-{k})) |" for k, d in kernels.items()]
    for note in a.note:
        r.md += ["", note]
    # The judged mode first: it answers the question.
    for mode in sorted(modes, key=lambda m: m != a.judge):
        r.mode, r.accel, r.judged = mode, modes[mode], mode == a.judge
        r.md += ["", f"## {mode}: {CLOCKS[mode]}", "",
                 f"Accelerator: {modes[mode]}. {thp_note(s, mode)}{host_note(s, mode)}"]
        section(r, sizes, benches)
        if scale_section(r, s, mode, a.out):
            r.md += ["", f"![ibv_reg_mr latency against size, {mode}](scale-{mode}.png)"]
        profile_section(r, s, mode)
        r.md += ["", f"![B1 and B2 latency against size, {mode}](latency-{mode}.png)"]

    n = {k: len(v) for k, v in s.items()}
    j = a.judge
    r.md += ["", f"Samples per figure ({j}): B1 "
             f"{n.get((j, 'patched', 'direct', 'reg-ok', sizes[0], 'reg_us'), 0) if sizes else 0}, "
             f"B3 {n.get((j, 'patched', 'direct', 'send_bw', 0, 'MB/s'), 0)}, "
             f"B4 {n.get((j, 'patched', 'direct', 'dma_map 0', 0, 'map_ns'), 0)}. "
             "Wall times inside a QEMU TCG guest are inflated and noisy, and one boot can be "
             "twice as fast as the next; counted times are instructions executed in the guest "
             "(1 ns each at icount shift 0), not what real hardware would take. Compare ratios, "
             "not absolute values. Raw samples: raw.csv."]

    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(r.md) + "\n")
    with open(os.path.join(a.out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mode", "accelerator", "bench", "measurement", "baseline", "baseline_median",
                    "baseline_min", "baseline_max", "compared", "compared_median", "compared_min",
                    "compared_max", "ratio", "ratio_ci_low", "ratio_ci_high", "goal", "met", "at_runs"])
        w.writerows(r.rows)
    # Plot data per mode: size, then medians of the four latency curves (µs).
    for mode in modes:
        with open(os.path.join(a.out, f"latency-{mode}.dat"), "w") as f:
            f.write(f"# {mode} ({modes[mode]}): bytes nogate_reg patched_reg early_refusal late_refusal\n")
            for size in sizes:
                cols = []
                for key in (("nogate", "direct", "reg-ok"), ("patched", "direct", "reg-ok"),
                            ("patched", "swiotlb", "refuse-early"), ("patched", "swiotlb", "refuse-late")):
                    v = [x for _b, x in s.get((mode, *key, size, "reg_us"), [])]
                    cols.append(f"{statistics.median(v):.3f}" if v else "NaN")
                f.write(f"{size} {' '.join(cols)}\n")
    print("\n".join(r.md))
    if r.missing:
        print("\nmissing measurements: " + ", ".join(sorted(set(r.missing))), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
