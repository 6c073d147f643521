"""Build script for the compiled cores (plain C, Python buffer protocol only): the suffix-array
searches and the suffix sorter used by the build (_core), the FM-index (_fm), and the searches
over official infini-gram indexes (_official).

Everything else is declared in pyproject.toml; setuptools needs this file only to
describe the extension module.
"""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "infgram._core",
            sources=["src/infgram/_core.c",
                     "src/infgram/c/sa_search.c", "src/infgram/c/find_many.c", "src/infgram/c/encode.c",
                     "src/infgram/c/status.c"],
            depends=["src/infgram/_binding.h", "src/infgram/c/sa_search.h", "src/infgram/c/find_many.h",
                     "src/infgram/c/encode.h", "src/infgram/c/status.h", "src/infgram/c/prefetch.h"],
            extra_compile_args=["-O3", "-std=c99"],
        ),
        Extension(
            "infgram._sort",
            sources=["src/infgram/_sort.c", "src/infgram/c/sais.c"],
            depends=["src/infgram/c/sais.h", "src/infgram/c/prefetch.h"],
            extra_compile_args=["-O3", "-std=c99", "-pthread"],
            extra_link_args=["-pthread"],  # the sorter's helper threads (sais.h)
        ),
        Extension(
            "infgram._fm",
            sources=["src/infgram/_fm.c", "src/infgram/c/fm_index.c", "src/infgram/c/fm_build.c",
                     "src/infgram/c/rrr.c", "src/infgram/c/find_many.c", "src/infgram/c/status.c"],
            depends=["src/infgram/_binding.h", "src/infgram/c/fm_index.h", "src/infgram/c/fm_build.h", "src/infgram/c/rrr.h",
                     "src/infgram/c/bits.h", "src/infgram/c/find_many.h", "src/infgram/c/status.h",
                     "src/infgram/c/prefetch.h"],
            extra_compile_args=["-O3", "-std=c99"],
        ),
        Extension(
            "infgram._official",
            sources=["src/infgram/_official.c", "src/infgram/c/official_search.c", "src/infgram/c/find_many.c",
                     "src/infgram/c/status.c"],
            depends=["src/infgram/_binding.h", "src/infgram/c/official_search.h", "src/infgram/c/page_reads.h", "src/infgram/c/find_many.h",
                     "src/infgram/c/status.h"],
            extra_compile_args=["-O3", "-std=c99"],
        ),
        Extension(
            "infgram._dedup",
            sources=["src/infgram/_dedup.c", "src/infgram/c/neighbours.c", "src/infgram/c/sa_search.c",
                     "src/infgram/c/status.c"],
            depends=["src/infgram/_binding.h", "src/infgram/c/neighbours.h", "src/infgram/c/sa_search.h",
                     "src/infgram/c/encode.h", "src/infgram/c/status.h", "src/infgram/c/prefetch.h"],
            extra_compile_args=["-O3", "-std=c99"],
        ),
    ]
)
