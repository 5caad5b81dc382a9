"""The table and plot of scripts/retrain_study.sh: top-1 after every retraining epoch of each
arm (fine-tune, lr-rewind, weight-rewind, scratch), from the arms' report.json files and the
original training's history.

Run: python3 scripts/retrain_table.py OUT   (writes OUT/table.md and OUT/retraining.png)
Needs: matplotlib.
"""
import json
import os
import sys

ARMS = ["fine-tune", "lr-rewind", "weight-rewind", "scratch"]


def load(out):
    history = json.load(open(os.path.join(out, "original.json")))
    original = history[-1]["test"]["top1"]
    arms = {}
    for arm in ARMS:
        path = os.path.join(out, arm, "report.json")
        if os.path.exists(path):
            report = json.load(open(path))
            arms[arm] = report["steps"][report["kept_step"]]
    return original, len(history), arms


def table(original, epochs, arms, base_macs):
    first = next(iter(arms.values()))
    lines = [
        f"Original ResNet-20: {100 * original:.2f}% after {epochs} epochs; the cut removes "
        f"{100 * (1 - first['macs'] / base_macs):.1f}% of the MACs.",
        "",
        "| retraining | after the cut | "
        + " | ".join(f"epoch {e + 1}" for e in range(len(first["epoch_accuracy"])))
        + " | change |",
        "|---|---|" + "---|" * len(first["epoch_accuracy"]) + "---|",
    ]
    for arm, step in arms.items():
        accs = " | ".join(f"{100 * a:.2f}%" for a in step["epoch_accuracy"])
        lines.append(
            f"| {arm} | {100 * step['accuracy_pruned']:.2f}% | {accs} | "
            f"{100 * (step['accuracy'] - original):+.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(original, arms, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm, step in arms.items():
        accs = [step["accuracy_pruned"]] + step["epoch_accuracy"]
        ax.plot(range(len(accs)), [100 * a for a in accs], marker="o", label=arm)
    ax.set_xticks(range(len(next(iter(arms.values()))["epoch_accuracy"]) + 1))
    ax.axhline(100 * original, color="grey", linestyle="--", label="original")
    ax.set_xlabel("retraining epoch (0: right after the cut)")
    ax.set_ylabel("top-1 (%)")
    low = min(min(s["epoch_accuracy"]) for s in arms.values())
    ax.set_ylim(max(0, 100 * low - 3), 100 * original + 1)
    ax.legend()
    ax.set_title("Retraining the same cut: fine-tune, rewind or scratch")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    out = sys.argv[1]
    original, epochs, arms = load(out)
    if not arms:
        sys.exit(f"no arm has a report under {out}")
    report = json.load(open(os.path.join(out, next(iter(arms)), "report.json")))
    text = table(original, epochs, arms, report["steps"][0]["macs"])
    open(os.path.join(out, "table.md"), "w").write(text)
    plot(original, arms, os.path.join(out, "retraining.png"))
    print(text)


if __name__ == "__main__":
    main()
