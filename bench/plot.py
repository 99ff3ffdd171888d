"""Plots bench/run.py's results: latency percentiles (scheduled send -> consumer read) against
offered rate, one line per system and percentile, and CPU µs per message.

  bench/out/venv/bin/python bench/plot.py RESULTS_JSON OUT_DIR
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def offered(step):
    """Whether the simulator really offered the step's rate (within 10 %): on a saturated
    machine it cannot, and such a step is reported in the table, not drawn."""
    return "error" not in step and step["offered_msgs_per_s"] >= 0.9 * step["target_msgs_per_s"]


def main():
    results = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    systems = sorted({s["system"] for s in results["steps"]})
    styles = {"p50": "-", "p99": "--", "p999": ":"}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for system in systems:
        steps = sorted((s for s in results["steps"] if s["system"] == system and offered(s)), key=lambda s: s["offered_msgs_per_s"])
        rates = [s["offered_msgs_per_s"] for s in steps]
        for p, style in styles.items():
            values = [s["latency_us"]["scheduled_to_consumer"][p] / 1000 for s in steps]
            ax.plot(rates, values, style, marker="o", label=f"{system} {p.replace('p999', 'p99.9')}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (messages/s)")
    ax.set_ylabel("latency, scheduled send → consumer read (ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{out}/latency.png", dpi=110)

    fig, ax = plt.subplots(figsize=(7, 4))
    for system in systems:
        steps = sorted((s for s in results["steps"] if s["system"] == system and offered(s)), key=lambda s: s["offered_msgs_per_s"])
        ax.plot([s["offered_msgs_per_s"] for s in steps], [s["cpu_us_per_msg"] for s in steps], marker="o", label=system)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (messages/s)")
    ax.set_ylabel("publisher CPU per message (µs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(f"{out}/cpu.png", dpi=110)


if __name__ == "__main__":
    main()
