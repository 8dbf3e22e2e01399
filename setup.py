"""Build hooks: ship the top-level codebook/ inside the package as casestudy/default_codebook/,
and compile the pseudonymiser's word scan (casestudy/consent/_wordscan.c).

The repository keeps the default codebook at the top level (SPEC layout); a wheel needs a
copy inside the package so `casestudy code` finds it after a non-editable install
(casestudy.coding.codebook.default_path looks there last). The word scan is optional: where
it cannot be compiled (no C compiler or Python headers) the install goes on and
casestudy.consent.pseudonyms uses its pure-Python way, which gives the same output.
Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class build_py_with_codebook(build_py):
    def run(self):
        super().run()
        source = HERE / "codebook"
        if not source.is_dir():  # building from an sdist without it: nothing to copy
            return
        target = Path(self.build_lib) / "casestudy" / "default_codebook"
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.glob("*.yaml")):
            shutil.copy2(path, target / path.name)
        # the labelled sets the default learned model trains on (casestudy.coding.learned.training_files:
        # every tests/data/*.yaml with an `excerpts` list, held-out files left out)
        training = target / "training"
        training.mkdir(exist_ok=True)
        for path in sorted((HERE / "tests" / "data").glob("*.yaml")):
            if "heldout" not in path.name.lower() and "excerpts:" in path.read_text(encoding="utf-8"):
                shutil.copy2(path, training / path.name)


def source_digest(path: Path) -> str:
    """The SHA-256 of the C source, compiled into the module: casestudy.consent.pseudonyms
    leaves a build of an older source unused (it falls back to its pure-Python way)."""
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


WORD_SCAN_SOURCE = "casestudy/consent/_wordscan.c"
WORD_SCAN = Extension("casestudy.consent._wordscan", [WORD_SCAN_SOURCE], optional=True,
                      define_macros=[("WORDSCAN_SOURCE", f'"{source_digest(HERE / WORD_SCAN_SOURCE)}"')])

setup(cmdclass={"build_py": build_py_with_codebook}, ext_modules=[WORD_SCAN])
