"""The package root and the command line start light: torch is loaded only by what uses it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import srmeta


def _loads_torch(code: str) -> bool:
    probe = f"import sys\n{code}\nprint('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1] == "True"


def test_errors_and_the_package_root_do_not_import_torch():
    assert not _loads_torch("import srmeta, srmeta.errors")


def _cli(argv: list[str]) -> str:
    return f"from srmeta.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass"


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["upscal"]])
def test_version_help_and_a_typo_do_not_import_torch(argv):
    assert not _loads_torch(_cli(argv))


def test_a_command_imports_what_it_needs():
    assert _loads_torch(_cli(["upscale", "--help"]))


def test_public_names_resolve_lazily_to_the_functions():
    from srmeta.evaluation import evaluate
    from srmeta.training.loop import train

    assert srmeta.evaluate is evaluate and srmeta.train is train
    assert set(srmeta.__all__) <= set(dir(srmeta))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        srmeta.nope  # noqa: B018
