"""Build hook: ship the tutorial and exercise notebooks as package data (ssd_edu/notebooks/).

The notebooks live once, in tutorials/ and tutorials/exercises/; at build time they are copied
into the wheel so that ``ssd-edu tutorials`` and ``ssd-edu exercises`` work from a regular
install (ssd_edu.exercises.handout). Everything else is in setup.cfg.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = {"tutorials": "tutorials", "exercises": "tutorials/exercises"}


class build_py_with_notebooks(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        for name, source in NOTEBOOKS.items():
            target = Path(self.build_lib) / "ssd_edu" / "notebooks" / name
            shutil.rmtree(target, ignore_errors=True)  # no stale copy of a renamed notebook
            target.mkdir(parents=True)
            for nb in sorted((root / source).glob("*.ipynb")):
                shutil.copyfile(nb, target / nb.name)


setup(cmdclass={"build_py": build_py_with_notebooks})
