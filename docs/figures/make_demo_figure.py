"""Make docs/figures/demo_attribution.png, the gallery of every method: `python docs/figures/make_demo_figure.py`.

The grid `revelio demo` puts in its report, with every method at its default options
(the demo runs the costly ones with fewer steps, samples or masks): three held-out
shapes images, one row per object's class, every registered attribution method on the
bundled model, and below it the legend of each kind of map.
"""

from pathlib import Path

from revelio import render
from revelio.demo import attribution_grid, map_legends, registered_methods
from revelio.zoo import load

zoo_model = load("shapes")
methods = registered_methods(zoo_model)
grid = attribution_grid(zoo_model, methods, count=3, preview=False)
legends = map_legends(methods)
path = render.save_png(render.stack([grid, legends]), Path(__file__).with_name("demo_attribution.png"))
print(f"wrote {path}")
