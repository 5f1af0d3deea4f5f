"""Make docs/figures/demo_attribution.png, the README's picture: `python docs/figures/make_demo_figure.py`.

The same grid `revelio demo` puts in its report: three held-out shapes images, one row
per object's class, every attribution method on the bundled model.
"""

from pathlib import Path

from revelio import render
from revelio.demo import attribution_grid, registered_methods
from revelio.zoo import load

zoo_model = load("shapes")
path = render.save_png(attribution_grid(zoo_model, registered_methods(zoo_model), count=3), Path(__file__).with_name("demo_attribution.png"))
print(f"wrote {path}")
