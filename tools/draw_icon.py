"""Draw the module icon (128x128 PNG): an axial breast outline with a tumor and an axillary node
chain, and a probability bar. Re-run to regenerate ALNPredictor/Resources/Icons/ALNPredictor.png."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, Ellipse, FancyBboxPatch, Rectangle  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "ALNPredictor" / "Resources" / "Icons" / "ALNPredictor.png"

fig = plt.figure(figsize=(1.28, 1.28), dpi=100)
ax = fig.add_axes([0, 0, 1, 1])
ax.set_xlim(0, 128)
ax.set_ylim(0, 128)
ax.axis("off")
ax.add_patch(FancyBboxPatch((4, 4), 120, 120, boxstyle="round,pad=0,rounding_size=18", fc="#1d2b44", ec="none"))
# breast (axial MRI-like half ellipse) and chest wall
ax.add_patch(Ellipse((58, 58), 88, 76, fc="#8d99ae", ec="#edf2f4", lw=1.5))
ax.add_patch(Rectangle((10, 20), 100, 18, fc="#1d2b44", ec="none"))
ax.plot([14, 104], [38, 38], color="#edf2f4", lw=1.5)
# tumor (spiculated look: star lines) and axillary nodes
for a in range(0, 360, 40):
    import math

    ax.plot([52, 52 + 11 * math.cos(math.radians(a))], [66, 66 + 11 * math.sin(math.radians(a))], color="#ef233c", lw=1.2)
ax.add_patch(Circle((52, 66), 7.5, fc="#ef233c", ec="white", lw=1))
for x, y, r in ((98, 88, 5), (107, 98, 4), (113, 108, 3.2)):
    ax.add_patch(Circle((x, y), r, fc="#52b788", ec="white", lw=1))
ax.plot([60, 96], [70, 86], color="#edf2f4", lw=0.8, ls=(0, (2, 2)))
# probability bar
ax.add_patch(Rectangle((16, 10), 96, 7, fc="#edf2f4", ec="none"))
ax.add_patch(Rectangle((16, 10), 62, 7, fc="#ffb703", ec="none"))
ax.text(64, 108, "ALN", color="white", ha="center", va="center", fontsize=14, fontweight="bold")
OUT.parent.mkdir(parents=True, exist_ok=True)
fig.savefig(OUT, dpi=100, transparent=True)
print(OUT)
