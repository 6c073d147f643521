"""Build script for the compiled query cores (suffix array and FM-index) (plain C, Python buffer protocol only).

Everything else is declared in pyproject.toml; setuptools needs this file only to
describe the extension module.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "infgram._core",
            sources=["src/infgram/_core.c"],
            extra_compile_args=["-O3", "-std=c99"],
        ),
        Extension(
            "infgram._fm",
            sources=["src/infgram/_fm.c"],
            extra_compile_args=["-O3", "-std=c99"],
        ),
    ]
)
