#!/usr/bin/env python3
"""Draws loadtest/fingerprint/run.sh's results (build/fingerprint/results.jsonl): the phrase
observer's accuracy per codec and defence, against chance, with the bytes on the wire over
the media bytes above each bar. Usage: plot_fingerprint.py RESULTS.jsonl OUT.svg"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

rows = [json.loads(line) for line in open(sys.argv[1])]
codecs = list(dict.fromkeys(r["codec"] for r in rows))
defences = list(dict.fromkeys(r["defence"] for r in rows))
names = {"vbr-dtx": "VBR + DTX", "vbr": "VBR (browsers' default)", "cbr": "CBR"}
fig, ax = plt.subplots(figsize=(10, 4.8))
width = 0.8 / len(defences)
colours = plt.get_cmap("viridis")
for i, defence in enumerate(defences):
    xs, ys, ratios = [], [], []
    for j, codec in enumerate(codecs):
        r = next((r for r in rows if r["codec"] == codec and r["defence"] == defence), None)
        if r is None:
            continue
        xs.append(j + (i - (len(defences) - 1) / 2) * width)
        ys.append(100 * r["accuracy"])
        ratios.append(r["wire_over_media"])
    bars = ax.bar(xs, ys, width * 0.95, label=defence, color=colours(i / max(1, len(defences) - 1)))
    for bar, ratio in zip(bars, ratios):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 1, f"{ratio:.1f}x", ha="center", va="bottom",
                fontsize=7)
chance = 100 * rows[0]["chance"]
ax.axhline(chance, color="black", linestyle="--", linewidth=1, label=f"chance ({chance:.0f}%)")
ax.set_xticks(range(len(codecs)))
ax.set_xticklabels([names.get(c, c) for c in codecs])
ax.set_ylabel("phrases named right (%)")
ax.set_ylim(0, 100)
ax.set_title("What an observer of the encrypted relay-to-client leg learns: phrase identification\n"
             "(20 phrases, 1-nearest neighbour on sizes and timing; above each bar: bytes on the wire / media bytes)",
             fontsize=9)
ax.legend(title="hush defence", fontsize=8, title_fontsize=8, loc="upper right")
fig.tight_layout()
fig.savefig(sys.argv[2], metadata={"Date": None})
print(f"plot: {sys.argv[2]}")
