"""From raw per-round figures to the results: medians and ranges, targets, table and chart.

Pure functions (except :func:`write_chart`, which needs matplotlib), so the test suite can check
them without timing anything.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The competitors, in the order the table shows them.
COMPETITORS: dict[str, str] = {
    "langfuse_async-ingestion": "langfuse_async (ingestion)",
    "langfuse_async-otlp": "langfuse_async (OTLP)",
    "langfuse5": "langfuse 5.x (official)",
    "langfuse2": "langfuse 2.60.10",
    "otel": "OpenTelemetry SDK",
}
OURS = ("langfuse_async-ingestion", "langfuse_async-otlp")


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    digits: int
    higher_is_better: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("observe_us", "`@observe` overhead, new trace", "us", 2),
    Metric("parent3_us", "`@observe` parent with 3 children", "us", 2),
    Metric("span_update_us", "context-manager span + `update()`", "us", 2),
    Metric("throughput_n", "observations per throughput run", "", 0),
    Metric("tiny_obs_s", "throughput, tiny payloads", "obs/s", 0, higher_is_better=True),
    Metric("tiny_lost", "lost of the tiny run", "", 0),
    Metric("tiny_rss_mb", "peak RSS, tiny run", "MB", 0),
    Metric("2kb_obs_s", "throughput, 2 KB payloads", "obs/s", 0, higher_is_better=True),
    Metric("2kb_lost", "lost of the 2 KB run", "", 0),
    Metric("2kb_rss_mb", "peak RSS, 2 KB run", "MB", 0),
    Metric("stall_p99_ms", "loop stall p99 (1 ms timer, both runs)", "ms", 1),
    Metric("stall_max_ms", "loop stall max (both runs)", "ms", 1),
    Metric("flush_ms", "idle `flush()` with one event", "ms", 2),
    Metric("down_observe_us", "server down: `@observe` overhead", "us", 2),
    Metric("down_shutdown_s", "server down: `shutdown(timeout=2)`", "s", 2),
)
METRIC_BY_KEY = {metric.key: metric for metric in METRICS}


def throughput_figures(result: Mapping[str, Any], sink: Mapping[str, Any]) -> dict[str, float]:
    """Observations per second received, and how many were lost, from one throughput round.

    The clock stops when ``flush()`` returned or when the last new id reached the sink,
    whichever is later, so a flush that returns early gains nothing.
    """
    received = int(sink[result["unit"]])
    end = max(float(result["t1"]), float(sink.get("last_new") or 0.0))
    elapsed = max(end - float(result["t0"]), 1e-9)
    return {"obs_s": received / elapsed, "lost": max(0, int(result["n"]) - received)}


def round_metrics(scenarios: Mapping[str, Any]) -> dict[str, float]:
    """The metrics of one competitor in one round, from its scenarios' raw figures."""
    out: dict[str, float] = {}
    hot = scenarios.get("hot_path")
    if hot:
        hot = {k: v for k, v in hot.items() if k != "sdk"}
        out["observe_us"] = hot["observe"]["overhead_us"]
        out["parent3_us"] = hot["parent_3_children"]["overhead_us"]
        out["span_update_us"] = hot["span_update"]["overhead_us"]
    stalls_p99: list[float] = []
    stalls_max: list[float] = []
    for size in ("tiny", "2kb"):
        run = scenarios.get(f"throughput_{size}")
        if run:
            figures = throughput_figures(run["result"], run["sink"])
            out[f"{size}_obs_s"] = figures["obs_s"]
            out[f"{size}_lost"] = figures["lost"]
            out[f"{size}_rss_mb"] = run["result"]["peak_rss_mb"]
            out["throughput_n"] = run["result"]["n"]
            stalls_p99.append(run["result"]["stall_p99_ms"])
            stalls_max.append(run["result"]["stall_max_ms"])
    if stalls_p99:
        out["stall_p99_ms"] = max(stalls_p99)
        out["stall_max_ms"] = max(stalls_max)
    flush = scenarios.get("idle_flush")
    if flush:
        out["flush_ms"] = flush["flush_ms_median"]
    down = scenarios.get("server_down")
    if down:
        out["down_observe_us"] = down["observe"]["overhead_us"]
        out["down_shutdown_s"] = down["shutdown_s"]
        if down.get("shutdown_killed"):
            out["down_shutdown_killed"] = 1.0
    return out


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median and range of one metric over the rounds."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "rounds": len(values),
    }


def aggregate(rounds: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """``rounds[i][competitor][scenario]`` raw figures -> ``[competitor][metric]`` summaries."""
    per: dict[str, dict[str, list[float]]] = {}
    for one_round in rounds:
        for competitor, scenarios in one_round.items():
            for key, value in round_metrics(scenarios).items():
                per.setdefault(competitor, {}).setdefault(key, []).append(value)
    return {
        competitor: {key: summarize(values) for key, values in metrics.items()}
        for competitor, metrics in per.items()
    }


Summary = Mapping[str, Mapping[str, Any]]
#: Given the summary and one competitor: (met, measured figure), or None when not measured.
Check = Callable[[Summary, str], "tuple[bool, str] | None"]


@dataclass(frozen=True)
class Target:
    label: str
    check: Check


def _median(summary: Mapping[str, Mapping[str, Any]], competitor: str, key: str) -> float | None:
    value = summary.get(competitor, {}).get(key)
    return None if value is None else float(value["median"])


def _at_most(key: str, limit: float, unit: str) -> Check:
    def check(summary: Summary, competitor: str) -> tuple[bool, str] | None:
        value = _median(summary, competitor, key)
        if value is None:
            return None
        return value <= limit, f"{value:.{METRIC_BY_KEY[key].digits}f} {unit}"

    return check


def _throughput(size: str, floor: float) -> Check:
    def check(summary: Summary, competitor: str) -> tuple[bool, str] | None:
        rate = _median(summary, competitor, f"{size}_obs_s")
        lost = summary.get(competitor, {}).get(f"{size}_lost")
        if rate is None or lost is None:
            return None
        most_lost = int(lost["max"])
        return rate >= floor and most_lost == 0, f"{rate:,.0f} obs/s, lost up to {most_lost:,}"

    return check


def _versus_official(
    summary: Mapping[str, Mapping[str, Any]], competitor: str
) -> tuple[bool, str] | None:
    ours = _median(summary, competitor, "observe_us")
    official = _median(summary, "langfuse5", "observe_us")
    if ours is None or official is None:
        return None
    ratio = official / ours if ours > 0 else float("inf")
    return ratio >= 100, f"{ratio:.0f}x below the official 5.x SDK ({official:.0f} us)"


TARGETS: tuple[Target, ...] = (
    Target("`@observe` overhead <= 2 us", _at_most("observe_us", 2.0, "us")),
    Target(">= 100x below the official SDK's `@observe`", _versus_official),
    Target("context-manager span + `update()` <= 3 us", _at_most("span_update_us", 3.0, "us")),
    Target(">= 150,000 tiny obs/s, nothing lost", _throughput("tiny", 150_000)),
    Target(">= 50,000 2 KB obs/s, nothing lost", _throughput("2kb", 50_000)),
    Target("idle `flush()` < 5 ms", _at_most("flush_ms", 4.999, "ms")),
    Target("loop stall p99 <= 5 ms", _at_most("stall_p99_ms", 5.0, "ms")),
    # Not in the table: promise 4 (bounded shutdown), with the second the client
    # allows itself to hand the last reports to a slow on_error.
    Target("server down: `shutdown(timeout=2)` within 3 s", _at_most("down_shutdown_s", 3.0, "s")),
)


def evaluate(summary: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each target for each route of this library: met or missed, with the measured figure."""
    verdicts = []
    for competitor in OURS:
        if competitor not in summary:
            continue
        for target in TARGETS:
            outcome = target.check(summary, competitor)
            if outcome is None:
                continue
            met, figure = outcome
            verdicts.append(
                {"competitor": competitor, "target": target.label, "met": met, "figure": figure}
            )
    return verdicts


def _cell(summary: Mapping[str, Any] | None, metric: Metric) -> str:
    if summary is None:
        return "-"

    def fmt(value: float) -> str:
        return f"{value:,.{metric.digits}f}"

    median = fmt(summary["median"])
    if summary["rounds"] > 1 and fmt(summary["min"]) != fmt(summary["max"]):
        return f"{median} ({fmt(summary['min'])}-{fmt(summary['max'])})"
    return median


def markdown_table(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """Metrics down, competitors across; each cell the median and (min-max) over rounds."""
    competitors = [c for c in COMPETITORS if c in summary]
    lines = [
        "| | " + " | ".join(COMPETITORS[c] for c in competitors) + " |",
        "|---|" + "---|" * len(competitors),
    ]
    for metric in METRICS:
        if not any(metric.key in summary[c] for c in competitors):
            continue
        label = f"{metric.label} ({metric.unit})" if metric.unit else metric.label
        cells = [_cell(summary[c].get(metric.key), metric) for c in competitors]
        if metric.key == "down_shutdown_s":
            # A shutdown that never returned was killed at the harness's limit: a lower bound.
            cells = [
                f">= {cell}, killed" if "down_shutdown_killed" in summary[c] else cell
                for c, cell in zip(competitors, cells, strict=True)
            ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown_verdicts(verdicts: Sequence[Mapping[str, Any]]) -> str:
    """The targets as a table: target, route, met or missed, measured figure."""
    lines = ["| target | route | | measured (median) |", "|---|---|---|---|"]
    for verdict in verdicts:
        route = COMPETITORS[verdict["competitor"]].split("(")[-1].rstrip(")")
        mark = "met" if verdict["met"] else "**missed**"
        lines.append(f"| {verdict['target']} | {route} | {mark} | {verdict['figure']} |")
    return "\n".join(lines)


def render_markdown(environment: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """The whole results page: where it ran, the table, the targets."""
    versions = "; ".join(
        f"{COMPETITORS.get(name, name)}: "
        + ", ".join(f"{dist} {version}" for dist, version in dists.items())
        for name, dists in environment["versions"].items()
    )
    return "\n\n".join(
        [
            "# Benchmark results",
            (
                f"Run {environment['date']} on {environment['machine']}, Python "
                f"{environment['python']}; {environment['rounds']} round(s), each competitor "
                f"in its own fresh process, one after another; medians with (min-max). "
                f"Command: `{environment['command']}`."
            ),
            f"Versions: {versions}.",
            markdown_table(summary),
            "## Targets (issue 10)",
            markdown_verdicts(evaluate(summary)),
        ]
    )


README_START = "<!-- benchmarks:start (written by python benchmarks/run.py --readme) -->"
README_END = "<!-- benchmarks:end -->"


def readme_block(environment: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """The README's part of the results: where it ran, the table, the chart, the targets."""
    versions = "; ".join(
        ", ".join(f"{dist} {version}" for dist, version in dists.items())
        for name, dists in environment["versions"].items()
        if name != "langfuse_async-otlp"  # the same venv as the ingestion route
    )
    note = environment.get("note")
    lines = [
        README_START,
        f"Latest run: {environment['date']}, {environment['machine']}, Python "
        f"{environment['python']}; {versions}; {environment['rounds']} round(s), medians with "
        f"(min-max); `{environment['command']}`." + (f" **{note}**" if note else ""),
        "",
        markdown_table(summary),
        "",
        "![Hot-path overhead and throughput per competitor](benchmarks/results/chart.png)",
        "",
        "Issue 10's targets, as the script judged them on this run:",
        "",
        markdown_verdicts(evaluate(summary)),
        README_END,
    ]
    return "\n".join(lines)


def replace_readme_block(readme: str, block: str) -> str:
    """``readme`` with the text between the markers replaced; unchanged without markers."""
    start = readme.find(README_START)
    end = readme.find(README_END)
    if start < 0 or end < start:
        return readme
    return readme[:start] + block + readme[end + len(README_END) :]


def write_chart(summary: Mapping[str, Mapping[str, Any]], path: str) -> None:
    """A bar chart of hot-path overhead (log scale) and throughput per competitor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    competitors = [c for c in COMPETITORS if c in summary]
    labels = [COMPETITORS[c].replace(" (", "\n(").replace(" 2.", "\n2.") for c in competitors]
    labels = [label.replace("OpenTelemetry ", "OpenTelemetry\n") for label in labels]
    colors = ["#2a9d8f" if c in OURS else "#8d99ae" for c in competitors]
    panels = [
        ("observe_us", "`@observe` overhead per call (us, log scale)", True, None),
        ("tiny_obs_s", "throughput, tiny payloads (obs/s received)", False, "tiny_lost"),
        ("2kb_obs_s", "throughput, 2 KB payloads (obs/s received)", False, "2kb_lost"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 5))
    for axis, (key, title, log, lost_key) in zip(axes, panels, strict=True):
        medians, low, high, notes = [], [], [], []
        for competitor in competitors:
            value = summary[competitor].get(key)
            lost = summary[competitor].get(lost_key) if lost_key else None
            if value is None:
                medians.append(0.0)
                low.append(0.0)
                high.append(0.0)
                notes.append("")
                continue
            medians.append(value["median"])
            low.append(value["median"] - value["min"])
            high.append(value["max"] - value["median"])
            text = f"{value['median']:,.1f}" if log else f"{value['median']:,.0f}"
            if lost is not None and lost["max"] > 0:
                text += f"\nlost {lost['median']:,.0f}"
            notes.append(text)
        bars = axis.bar(labels, medians, color=colors, yerr=[low, high], capsize=4)
        for bar, note, top in zip(bars, notes, high, strict=True):
            # Beside the top of the error bar, so the two never overlap.
            axis.annotate(
                note,
                (bar.get_x() + bar.get_width() / 2, bar.get_height() + top),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
            )
        axis.set_title(title.replace("`", ""), fontsize=10)
        if log:
            axis.set_yscale("log")
        axis.margins(y=0.15)
        axis.tick_params(axis="x", labelsize=7)
    fig.suptitle("langfuse_async vs the official SDKs and plain OpenTelemetry (medians, min-max)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
