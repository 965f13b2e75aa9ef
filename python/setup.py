"""Installs the zpipe Python package: ``pip install ./python``.

Pure Python; it needs pyzmq and msgpack, which Debian ships as python3-zmq
and python3-msgpack (make the venv with --system-site-packages). The
submitting side's C++ engine (zpipe/_engine*.so) is built by CMake with
-DZPIPE_PYTHON=ON; setup.py ships it when ZPIPE_ENGINE names the built file.
No pyproject.toml on purpose: pip then builds without an isolated
environment, so it needs nothing from the network.
"""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithEngine(build_py):
    def run(self):
        super().run()
        engine = os.environ.get("ZPIPE_ENGINE")
        if engine:
            shutil.copy(engine, os.path.join(self.build_lib, "zpipe", os.path.basename(engine)))


setup(
    name="zpipe",
    version="0.1.0",
    description="Python workers and job submission for the zpipe task pipeline",
    packages=["zpipe"],
    python_requires=">=3.9",
    install_requires=[],  # pyzmq and msgpack come from Debian (python3-zmq, python3-msgpack)
    cmdclass={"build_py": BuildWithEngine},
)
