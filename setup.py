"""Build script for the compiled core (plain C, Python buffer protocol only): the query
searches and the suffix sorter used by the build.

Everything else is declared in pyproject.toml; setuptools needs this file only to
describe the extension module.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "infgram._core",
            sources=["src/infgram/_core.c", "src/infgram/_sais32.c", "src/infgram/_sais64.c"],
            depends=["src/infgram/_sais_impl.h"],
            extra_compile_args=["-O3", "-std=c99"],
        )
    ]
)
