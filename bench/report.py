#!/usr/bin/env python3
"""Turns the harness's JSON lines into bench/results/<date>.md (issue 7's table and targets).

Aggregation over the interleaved rounds of one scenario: req/s and CPU per request are
pooled (total requests / total time, total CPU / total requests); percentiles are the
median of the rounds; "added" figures are the median of the per-round differences to
`direct` measured in the same round (paired, so slow drifts of the machine cancel out).
"""

import argparse
import json
import statistics
from collections import defaultdict

SCENARIOS = {
    "c1": "non-streaming, concurrency 1",
    "c16": "non-streaming, concurrency 16",
    "c64": "non-streaming, concurrency 64",
    "s1": "streaming (20 chunks, 5 ms apart), concurrency 1",
    "s16": "streaming (20 chunks, 5 ms apart), concurrency 16",
}
ORDER = ["direct", "ax", "portkey", "litellm"]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f(x, nd=2, unit=""):
    if x is None:
        return "—"
    if isinstance(x, float) and x != x:
        return "—"
    if isinstance(x, float) and abs(x) >= 1000:
        return f"{x:,.0f}{unit}"
    return f"{x:.{nd}f}{unit}"


def load(path):
    runs = defaultdict(list)  # (scenario, target) -> [result]
    rounds = defaultdict(dict)  # (scenario, round) -> {target: result}
    starts, ends, rows = {}, {}, None
    colds = defaultdict(list)  # target -> cold starts (ms) of every launch
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line)
        if r["kind"] == "run":
            runs[(r["scenario"], r["target"])].append(r["result"])
            rounds[(r["scenario"], r["round"])][r["target"]] = r["result"]
        elif r["kind"] in ("start", "cold"):
            # Every launch is a cold-start sample; the last ("start") stays up.
            colds[r["target"]].append(r["probe"].get("cold_start_ms"))
            if r["kind"] == "start":
                starts[r["target"]] = r
        elif r["kind"] == "end":
            ends[r["target"]] = r
        elif r["kind"] == "ax_log_rows":
            rows = r["rows"]
    for t, ms in colds.items():
        ms = sorted(m for m in ms if m is not None)
        if t in starts and ms:
            starts[t]["cold_ms"] = ms
    return runs, rounds, starts, ends, rows


def cold_start(start):
    """Median cold start over the launches of one target (ms), or None."""
    ms = start.get("cold_ms") if start else None
    return statistics.median(ms) if ms else None


def aggregate(runs, rounds):
    agg = {}
    for (sc, t), rs in runs.items():
        req = sum(r["requests"] for r in rs)
        dur = sum(r["duration_s"] for r in rs)
        # Rounds where nothing succeeded have no latencies (their errors still count).
        ok = [r for r in rs if r["requests"] > 0]
        a = {
            "requests": req,
            "errors": sum(r["errors"] for r in rs),
            "rps": req / dur if dur else 0.0,
            "p50": med(r["latency_ms"]["p50"] for r in ok),
            "p90": med(r["latency_ms"]["p90"] for r in ok),
            "p99": med(r["latency_ms"]["p99"] for r in ok),
            "first_error": next((r["first_error"] for r in rs if r.get("first_error")), None),
        }
        if "ttfb_ms" in rs[0]:
            a["ttfb50"] = med(r["ttfb_ms"]["p50"] for r in ok)
            a["ttfb99"] = med(r["ttfb_ms"]["p99"] for r in ok)
        if "cpu_ms" in rs[0]:
            cpu = sum(r["cpu_ms"] for r in rs)
            a["cpu_us"] = cpu * 1000.0 / req if req else None
            a["rss_peak_mb"] = max(r["rss_peak_kb"] for r in rs) / 1024.0
        # Paired differences to direct, round by round.
        for key, pick in (
            ("add50", lambda r: r["latency_ms"]["p50"]),
            ("add99", lambda r: r["latency_ms"]["p99"]),
            ("addttfb50", lambda r: r.get("ttfb_ms", {}).get("p50")),
            ("addttfb99", lambda r: r.get("ttfb_ms", {}).get("p99")),
        ):
            diffs = []
            for (sc2, _), by_t in rounds.items():
                if sc2 != sc or t not in by_t or "direct" not in by_t:
                    continue
                if by_t[t]["requests"] == 0 or by_t["direct"]["requests"] == 0:
                    continue
                x, d = pick(by_t[t]), pick(by_t["direct"])
                if x is not None and d is not None:
                    diffs.append(x - d)
            a[key] = med(diffs) if t != "direct" else None
        agg[(sc, t)] = a
    return agg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meta", help="run metadata (else the jsonl's `meta` line)")
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    meta = json.load(open(args.meta)) if args.meta else None
    for line in open(args.jsonl):
        if meta is None and line.strip() and json.loads(line).get("kind") == "meta":
            meta = json.loads(line)["meta"]
    runs, rounds, starts, ends, rows = load(args.jsonl)
    agg = aggregate(runs, rounds)
    targets = [t for t in ORDER if any(k[1] == t for k in agg)]
    scenarios = [s for s in SCENARIOS if any(k[0] == s for k in agg)]
    g = lambda sc, t, k: agg.get((sc, t), {}).get(k)  # noqa: E731

    o = []
    o.append(f"# ax benchmark — {meta.get('date', '')}".rstrip(" —"))
    o.append("")
    o.append(f"Command: `{meta['command']}` (commit `{meta['commit']}`"
             f"{', dirty tree' if meta.get('dirty') else ''}).")
    o.append("")
    o.append(f"Machine: {meta['cpu']}, {meta['nproc']} cores, Linux {meta['kernel']}, "
             f"{meta['rustc']}. Load before: `{meta['uptime_before'].strip()}`; "
             f"after: `{meta['uptime_after'].strip()}`.")
    peers = [p for p in ("litellm", "portkey") if meta.get(p)]
    if peers:
        o.append("Peers: " + ", ".join(f"{p} {meta[p]}" for p in peers) + ".")
    o.append("")
    o.append(f"Setup: mock upstream `ax-mock-upstream` (latency 0; streams 20 chunks 5 ms "
             f"apart), load driver `ax-load` (closed loop, one keep-alive connection per "
             f"concurrent client, TCP_NODELAY), ~1 KB OpenAI chat request, model "
             f"`gpt-4o-mini`. ax with logging ON to a temp SQLite file. Every scenario runs "
             f"{meta['rounds']} rounds of {meta['duration']} s (after {meta['warmup']} s "
             f"warm-up) with the targets interleaved (A B A B …). Everything — mock, "
             f"gateway, driver — shares the same cores, so absolute numbers are "
             f"machine-bound; compare ratios within this file.")
    o.append("")
    o.append("Columns: req/s pooled over rounds; percentiles are medians over rounds; "
             "*added* = median over rounds of (target − direct) in the same round; "
             "CPU = gateway utime+stime (process tree, `/proc/PID/stat`) per request; "
             "RSS peak = highest RSS sampled every 20 ms during the scenario.")
    o.append("")

    for sc in scenarios:
        stream = sc.startswith("s")
        o.append(f"## {SCENARIOS[sc]}")
        o.append("")
        if stream:
            o.append("| target | req/s | TTFB p50 | TTFB p99 | total p50 | total p99 | "
                     "added TTFB p50 | added total p50 | CPU/req | RSS peak | errors |")
            o.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        else:
            o.append("| target | req/s | p50 | p90 | p99 | added p50 | added p99 | "
                     "CPU/req | RSS peak | errors |")
            o.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for t in targets:
            if (sc, t) not in agg:
                continue
            a = agg[(sc, t)]
            cpu = f(a.get("cpu_us"), 1, " µs")
            rss = f(a.get("rss_peak_mb"), 1, " MB")
            if stream:
                o.append(f"| {t} | {f(a['rps'], 0)} | {f(a['ttfb50'], 3, ' ms')} | "
                         f"{f(a['ttfb99'], 3, ' ms')} | {f(a['p50'], 2, ' ms')} | {f(a['p99'], 2, ' ms')} | "
                         f"{f(a['addttfb50'], 3, ' ms')} | {f(a['add50'], 3, ' ms')} | {cpu} | {rss} | "
                         f"{a['errors']} |")
            else:
                o.append(f"| {t} | {f(a['rps'], 0)} | {f(a['p50'], 3, ' ms')} | "
                         f"{f(a['p90'], 3, ' ms')} | {f(a['p99'], 3, ' ms')} | {f(a['add50'], 3, ' ms')} | "
                         f"{f(a['add99'], 3, ' ms')} | {cpu} | {rss} | {a['errors']} |")
        o.append("")

    o.append("## Per gateway")
    o.append("")
    o.append("| target | cold start: median (all launches), launch → first 200 | "
             "idle RSS (1 s after first 200) | "
             "peak RSS (VmHWM) | RSS at end |")
    o.append("|---|---:|---:|---:|---:|")
    for t in targets:
        if t == "direct" or t not in starts:
            continue
        s, e = starts[t], ends.get(t, {})
        hwm = e.get("hwm_kb")
        end_rss = e.get("end", {}).get("rss_kb")
        launches = " / ".join(f(m, 1) for m in s.get("cold_ms", []))
        o.append(f"| {t} | {f(cold_start(s), 1, ' ms')} ({launches}) | "
                 f"{f(s['idle']['rss_kb'] / 1024, 1)} MB | "
                 f"{f(hwm / 1024 if hwm else None, 1)} MB | "
                 f"{f(end_rss / 1024 if end_rss else None, 1)} MB |")
    o.append("")
    if rows is not None:
        o.append(f"ax log rows written to SQLite during the run (warm-up and probes "
                 f"included): {rows}.")
        o.append("")
    errs = [(k, a["first_error"]) for k, a in agg.items() if a.get("first_error")]
    for (sc, t), e in errs:
        n = agg[(sc, t)]["errors"]
        o.append(f"- {t} {sc}: {n} errors, first: `{str(e)[:200]}`")
    if errs:
        o.append("")

    # Targets of issue 7 for ax.
    def ratio(a, b):
        return a / b if a is not None and b else None

    checks = []

    def check(name, value, ok, shown):
        checks.append((name, shown, "—" if ok is None else ("met" if ok else "**missed**")))

    cpu16 = g("c16", "ax", "cpu_us")
    check("gateway CPU ≤ 50 µs per non-streaming request (c16)", cpu16,
          None if cpu16 is None else cpu16 <= 50, f(cpu16, 1, " µs"))
    pk_cpu = g("c16", "portkey", "cpu_us")
    r = ratio(pk_cpu, cpu16)
    check("CPU ≥ 14× less than Portkey (c16)", r, None if r is None else r >= 14,
          f(r, 1, "×"))
    rd = ratio(g("c16", "ax", "rps"), g("c16", "direct", "rps"))
    check("throughput c16 ≥ 25% of direct", rd, None if rd is None else rd >= 0.25,
          f(None if rd is None else rd * 100, 1, " %"))
    rp = ratio(g("c16", "ax", "rps"), g("c16", "portkey", "rps"))
    check("throughput c16 ≥ 10× Portkey", rp, None if rp is None else rp >= 10, f(rp, 1, "×"))
    for sc, key, lim, label in (
        ("c1", "add50", 0.2, "added p50 at c1 ≤ 0.2 ms"),
        ("c1", "add99", 0.5, "added p99 at c1 ≤ 0.5 ms"),
        ("c16", "add99", 2.0, "added p99 at c16 ≤ 2 ms"),
        ("s1", "addttfb50", 0.3, "streaming added TTFB p50 ≤ 0.3 ms (c1)"),
        ("s16", "addttfb50", 0.3, "streaming added TTFB p50 ≤ 0.3 ms (c16)"),
        ("s1", "add50", 1.0, "streaming total within 1 ms of direct (c1, p50)"),
        ("s16", "add50", 1.0, "streaming total within 1 ms of direct (c16, p50)"),
    ):
        v = g(sc, "ax", key)
        check(label, v, None if v is None else v <= lim, f(v, 3, " ms"))
    st = starts.get("ax")
    idle = st["idle"]["rss_kb"] / 1024 if st else None
    check("idle RSS ≤ 15 MB", idle, None if idle is None else idle <= 15, f(idle, 1, " MB"))
    pk = g("c64", "ax", "rss_peak_mb")
    check("peak RSS ≤ 40 MB at c64", pk, None if pk is None else pk <= 40, f(pk, 1, " MB"))
    cs = cold_start(st)
    check("cold start ≤ 50 ms", cs, None if cs is None else cs <= 50, f(cs, 1, " ms"))
    errs_ax = sum(a["errors"] for (sc, t), a in agg.items() if t == "ax")
    check("zero errors through ax", errs_ax, errs_ax == 0, str(errs_ax))
    check("10,000 slow streams, RSS ≤ 400 MB", None, None, "not measured by run.sh")
    check("10-minute soak at c16", None, None, "not measured by run.sh")

    o.append("## Targets (issue 7), ax")
    o.append("")
    o.append("| target | measured | status |")
    o.append("|---|---:|---|")
    for name, shown, status in checks:
        o.append(f"| {name} | {shown} | {status} |")
    o.append("")
    open(args.out, "w").write("\n".join(o))


if __name__ == "__main__":
    main()
