"""The built-in demo dataset: rendered driving sequences with labels, predictions and defects.

    import workbench
    from workbench.demo import build_demo
    catalog = workbench.open("demo/workbench.duckdb")
    print(build_demo(catalog))

No downloads: every picture is drawn with pillow from a seeded random generator, so the same
seed always gives the same files and rows. docs/demo.md describes the sequences and the
defects planted in them.
"""

from workbench.demo.build import DemoSummary, build_demo, default_media_dir
from workbench.demo.defects import Defect

__all__ = ["Defect", "DemoSummary", "build_demo", "default_media_dir"]
