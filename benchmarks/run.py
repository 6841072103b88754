"""Run every benchmark against every competitor and write ``benchmarks/results/``.

Usage (from the repository root, after ``python -m pip install -e ".[bench]"``)::

    python benchmarks/run.py            # the full run (about 10 minutes on 2 cores)
    python benchmarks/run.py --quick    # one short round, to check that everything works

Each competitor is installed into its own virtual environment under ``benchmarks/.venvs/``
(cached; ``--refresh`` reinstalls, e.g. to pick up a newer official 5.x release). All of them
send to the same loopback sink, a separate process (``harness/sink.py``) that counts the
distinct ids it receives. Every measurement runs in a fresh process of the competitor's venv
(``harness/workload.py``), one competitor after another, for several rounds; the results are
medians with their min-max range. Writes ``results/results.json``, ``results/results.md`` and
``results/chart.png``, and prints each of issue 10's targets as met or missed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from harness import report, venvs  # noqa: E402

WORKLOAD = BENCH_DIR / "harness" / "workload.py"
SINK = BENCH_DIR / "harness" / "sink.py"
RESULTS = BENCH_DIR / "results"

#: Which venv each competitor runs in.
VENV_OF = {
    "langfuse_async-ingestion": "langfuse_async",
    "langfuse_async-otlp": "langfuse_async",
    "langfuse5": "langfuse5",
    "langfuse2": "langfuse2",
    "otel": "otel",
}


#: The official SDKs produce about 1,000 observations per second here (and the 2.x SDK takes
#: a minute to deliver 50,000 of 2 KB): their throughput runs are smaller so that a full run
#: stays near ten minutes. Their rate settles well within it; the table names each run's size.
SLOW = ("langfuse5", "langfuse2")


def plan(quick: bool, full_size: bool = False) -> dict[str, dict[str, Any]]:
    """The scenarios and their options: the full run, or a short one."""
    calls, budget, n = (3_000, 0.3, 10_000) if quick else (20_000, 1.0, 50_000)
    slow_n = n if full_size else n // 5
    return {
        "hot_path": {"scenario": "hot_path", "max_calls": calls, "budget": budget},
        "throughput_tiny": {"scenario": "throughput", "n": n, "slow_n": slow_n, "size": "tiny"},
        "throughput_2kb": {"scenario": "throughput", "n": n, "slow_n": slow_n, "size": "2kb"},
        "idle_flush": {"scenario": "idle_flush", "repeats": 5 if quick else 10},
        "server_down": {"scenario": "server_down", "max_calls": calls, "budget": budget},
    }


class Sink:
    """The sink process: started once, reset before each measurement."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SINK), "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError("the sink did not start; is the bench extra installed?")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"

    def _call(self, method: str, path: str) -> dict[str, Any]:
        data = b"" if method == "POST" else None
        request = urllib.request.Request(self.url + path, method=method, data=data)
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def reset(self) -> None:
        self._call("POST", "/_bench/reset")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_bench/stats")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def refused_endpoint() -> str:
    """A loopback port nobody listens on (bound, then released), so connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def run_workload(python: Path, options: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One measurement in a fresh process; its figures, or an ``error`` entry."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    for name in list(env):
        # A developer's own Langfuse or OpenTelemetry settings must not leak into the run.
        if name.startswith(("LANGFUSE_", "OTEL_")):
            del env[name]
    try:
        proc = subprocess.run(
            [str(python), str(WORKLOAD), json.dumps(options)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        partial = _last_line(out, "PARTIAL ")
        if partial is not None:
            # The process was killed while shutting down: that is the figure (a lower bound).
            return {**partial, "shutdown_s": timeout, "shutdown_killed": True}
        return {"error": f"no result within {timeout:.0f} s"}
    result = _last_line(proc.stdout, "RESULT ")
    if result is not None:
        return result
    return {"error": (proc.stderr or proc.stdout)[-1500:]}


def _last_line(output: str, prefix: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        if line.startswith(prefix):
            result: dict[str, Any] = json.loads(line[len(prefix) :])
            return result
    return None


def environment(
    args: argparse.Namespace, versions: dict[str, dict[str, str]], argv: list[str]
) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "rounds": args.rounds,
        "command": shlex.join(["python", "benchmarks/run.py", *argv]),
        "versions": versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    parser.add_argument(
        "--only", nargs="+", choices=list(VENV_OF), help="run only these competitors"
    )
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=list(plan(False)),
        help="run only these scenarios (the targets of the others are then not judged)",
    )
    parser.add_argument(
        "--full-size",
        action="store_true",
        help="throughput runs of the same size for the official SDKs too (several minutes more)",
    )
    parser.add_argument("--refresh", action="store_true", help="reinstall the competitor venvs")
    parser.add_argument("--no-chart", action="store_true", help="skip the PNG")
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help="where to write the results (default benchmarks/results; partial runs elsewhere)",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="also rewrite the results part of README.md (between its benchmark markers)",
    )
    parser.add_argument(
        "--note",
        default=None,
        help="a remark stored with the results and shown in the README (e.g. a shared machine)",
    )
    parser.add_argument(
        "--replot",
        action="store_true",
        help="only render results.md and chart.png again from the results.json in --output",
    )
    args = parser.parse_args(argv)
    if args.replot:
        saved = json.loads((args.output / "results.json").read_text())
        if args.note:
            saved["environment"]["note"] = args.note
            (args.output / "results.json").write_text(json.dumps(saved, indent=1))
        (args.output / "results.md").write_text(
            report.render_markdown(saved["environment"], saved["summary"]) + "\n"
        )
        report.write_chart(saved["summary"], str(args.output / "chart.png"))
        if args.readme:
            _update_readme(saved["environment"], saved["summary"])
        return 0
    args.rounds = args.rounds or (1 if args.quick else 3)
    # Stopped with SIGTERM, still stop the sink (the finally below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    competitors = list(args.only or VENV_OF)
    scenarios = plan(args.quick, args.full_size)
    if args.scenarios:
        scenarios = {name: scenarios[name] for name in args.scenarios}
    started = time.monotonic()

    print("competitor environments (benchmarks/.venvs/):", flush=True)
    pythons: dict[str, Path] = {}
    versions: dict[str, dict[str, str]] = {}
    for competitor in list(competitors):
        spec = venvs.SPECS[VENV_OF[competitor]]
        try:
            if spec.name not in pythons:
                pythons[spec.name] = venvs.ensure(spec, refresh=args.refresh)
            versions[competitor] = venvs.installed_versions(pythons[spec.name], spec.reports)
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as exc:
            # No index reachable, say: the others still run, and the results say who is missing.
            print(f"  {report.COMPETITORS[competitor]}: SKIPPED, not installable: {exc}")
            competitors.remove(competitor)
            continue
        print(f"  {report.COMPETITORS[competitor]}: {versions[competitor]}", flush=True)
    if not competitors:
        print("no competitor could be installed")
        return 1

    sink = Sink()
    rounds: list[dict[str, dict[str, Any]]] = []
    errors: list[str] = []
    try:
        for index in range(args.rounds):
            print(f"round {index + 1}/{args.rounds}", flush=True)
            one_round: dict[str, dict[str, Any]] = {c: {} for c in competitors}
            # Rotate the order each round so no competitor always runs right after another.
            shift = index % len(competitors)
            order = competitors[shift:] + competitors[:shift]
            for name, options in scenarios.items():
                for competitor in order:
                    down = name == "server_down"
                    endpoint = refused_endpoint() if down else sink.url
                    full = {**options, "competitor": competitor, "endpoint": endpoint}
                    if competitor in SLOW and "slow_n" in options:
                        full["n"] = options["slow_n"]
                    sink.reset()
                    result = run_workload(
                        pythons[VENV_OF[competitor]], full, timeout=60 if down else 300
                    )
                    if "error" in result:
                        errors.append(f"{competitor} {name}: {result['error']}")
                        print(f"  {competitor:<26} {name:<16} ERROR (see results.json)")
                        continue
                    if name.startswith("throughput"):
                        result = {"result": result, "sink": sink.stats()}
                    one_round[competitor][name] = result
                    print(f"  {competitor:<26} {name:<16} {_brief(name, result)}", flush=True)
            rounds.append(one_round)
    finally:
        sink.stop()

    summary = report.aggregate(rounds)
    env = environment(args, versions, sys.argv[1:] if argv is None else argv)
    env["duration_s"] = round(time.monotonic() - started, 1)
    if args.note:
        env["note"] = args.note
    verdicts = report.evaluate(summary)
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps(
            {
                "environment": env,
                "summary": summary,
                "targets": verdicts,
                "errors": errors,
                "rounds": rounds,
            },
            indent=1,
        )
    )
    (out / "results.md").write_text(report.render_markdown(env, summary) + "\n")
    if not args.no_chart:
        try:
            report.write_chart(summary, str(out / "chart.png"))
        except ImportError:
            print("no chart: matplotlib is missing (pip install -e '.[bench]')")

    if args.readme:
        _update_readme(env, summary)

    print()
    print(report.markdown_table(summary))
    print()
    for verdict in verdicts:
        mark = "MET   " if verdict["met"] else "MISSED"
        route = report.COMPETITORS[verdict["competitor"]]
        print(f"{mark} {verdict['target']:<50} {route:<28} {verdict['figure']}")
    for error in errors:
        print("error:", error.splitlines()[-1] if error else error)
    print(f"\nwrote {out}/ in {env['duration_s']:.0f} s")
    return 0


def _update_readme(env: dict[str, Any], summary: dict[str, Any]) -> None:
    readme = BENCH_DIR.parent / "README.md"
    text = readme.read_text()
    updated = report.replace_readme_block(text, report.readme_block(env, summary))
    if updated == text:
        print("README.md has no benchmark markers: not updated")
    readme.write_text(updated)


def _brief(name: str, result: dict[str, Any]) -> str:
    if name == "hot_path":
        return ", ".join(f"{k} {v['overhead_us']:.2f} us" for k, v in result.items() if k != "sdk")
    if name.startswith("throughput"):
        figures = report.throughput_figures(result["result"], result["sink"])
        return (
            f"{figures['obs_s']:,.0f} obs/s, lost {figures['lost']}, "
            f"stall p99 {result['result']['stall_p99_ms']:.1f} ms, "
            f"rss {result['result']['peak_rss_mb']:.0f} MB"
        )
    if name == "idle_flush":
        return f"flush {result['flush_ms_median']:.2f} ms (max {result['flush_ms_max']:.2f})"
    return (
        f"observe {result['observe']['overhead_us']:.2f} us, shutdown {result['shutdown_s']:.2f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
