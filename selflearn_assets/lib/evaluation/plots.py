"""Small PNG charts for asset metadata and exports (matplotlib, no display)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rewrite_evaluation_png(arms: dict[str, tuple[float, float]], outcomes: dict[str, dict[str, int]]) -> bytes:
    """Left: defect rate by arm (control, treatment) for each traffic slice; right: rewrite outcomes
    (win / loss / neutral) by gold failure type."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    slices = list(arms)
    x = range(len(slices))
    left.bar([i - 0.2 for i in x], [arms[s][0] for s in slices], width=0.4, label="control", color="#888")
    left.bar([i + 0.2 for i in x], [arms[s][1] for s in slices], width=0.4, label="treatment", color="#2a7")
    left.set_xticks(list(x), slices)
    left.set_ylabel("defect rate")
    left.set_title("A/B replay (the same users in both arms)")
    left.legend()
    kinds = sorted(outcomes)
    bottom = [0] * len(kinds)
    for outcome, color in (("win", "#2a7"), ("neutral", "#bbb"), ("loss", "#c33")):
        values = [outcomes[k].get(outcome, 0) for k in kinds]
        right.bar(kinds, values, bottom=bottom, label=outcome, color=color)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    right.set_title("offline outcomes by gold failure point")
    right.tick_params(axis="x", labelrotation=30)
    right.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def failure_mix_png(by_domain: dict[str, dict[str, int]], by_device: dict[str, dict[str, int]], classes) -> bytes:
    """Stacked bars of the failure-point mix by domain and by device: each segment is a failure class's share of
    the group's turns (`correct` left out), so a bar's height is the group's failure rate."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), dpi=100, gridspec_kw={"width_ratios": [2, 1]})
    failures = [c for c in classes if c != "correct"]
    for ax, groups, title in ((axes[0], by_domain, "by NLU domain"), (axes[1], by_device, "by device")):
        names = sorted(groups, key=lambda g: -sum(v for k, v in groups[g].items() if k != "correct"))
        bottom = [0.0] * len(names)
        for cls in failures:
            values = [groups[g].get(cls, 0) / max(1, sum(groups[g].values())) for g in names]
            ax.bar(names, values, bottom=bottom, label=cls)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_title(f"failure points {title}")
        ax.set_ylabel("share of turns")
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
