"""Build script for the compiled cores (plain C, Python buffer protocol only): the suffix-array
searches and the suffix sorter used by the build (_core), and the FM-index (_fm).

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
        ),
        Extension(
            "infgram._fm",
            sources=["src/infgram/_fm.c"],
            extra_compile_args=["-O3", "-std=c99"],
        ),
    ]
)
