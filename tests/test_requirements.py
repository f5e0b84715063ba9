"""Dependencies: one set of pins, locked with hashes, read the same by the policy packs.

``requirements*.txt`` say what we depend on (exact pins); ``requirements*.lock`` (``make lock``,
pip-compile) pin every transitive dependency with its hashes and are what ``make`` installs
(``--require-hashes``); each policy pack's ``requirements.txt`` (the Pulumi CLI builds the pack's
virtualenv from it) must pin the very versions the root does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.\[\]-]+)==([^\s;\\]+)")


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw.split("[")[0]).lower()


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of the ``name==version`` lines of a requirements or lock file (names normalised)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            out[_name(match.group(1))] = match.group(2)
    return out


def unpinned(path: Path) -> list[str]:
    """Requirement lines that are not exact pins (options such as ``-r`` and comments aside)."""
    lines = [ln.split("#")[0].strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("-") and not PIN.match(ln)]


def hashes(path: Path) -> dict[str, int]:
    """``name -> number of --hash entries`` per locked requirement."""
    out: dict[str, int] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = _name(match.group(1))
            out[current] = 0
        if current and "--hash=sha256:" in line:
            out[current] += 1
    return out


PACK_REQUIREMENTS = sorted(ROOT.glob("policies/*/requirements.txt"))


@pytest.mark.parametrize("source", ["requirements.txt", "requirements-dev.txt"])
def test_direct_requirements_are_exact_pins(source: str) -> None:
    assert unpinned(ROOT / source) == []


@pytest.mark.parametrize(
    ("source", "lock"), [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")]
)
def test_lock_holds_every_pin_at_the_same_version(source: str, lock: str) -> None:
    locked = pins(ROOT / lock)
    wanted = pins(ROOT / source)
    if source == "requirements-dev.txt":
        wanted |= pins(ROOT / "requirements.txt")  # via -r
    assert {n: v for n, v in wanted.items() if locked.get(n) != v} == {}, f"{lock} is stale: run `make lock`"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_requirement_has_hashes_and_no_local_source(lock: str) -> None:
    counts = hashes(ROOT / lock)
    assert len(counts) > 20  # the transitive closure, not just the direct pins
    assert [n for n, c in counts.items() if c == 0] == []
    text = (ROOT / lock).read_text(encoding="utf-8")
    assert "--find-links" not in text and "--index-url" not in text and "file://" not in text


def test_runtime_lock_is_the_dev_lock_restricted() -> None:
    runtime, dev = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-dev.lock")
    assert {n: v for n, v in runtime.items() if dev.get(n) != v} == {}


def test_make_installs_from_the_lock_with_hashes_required() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^\$\(STAMP\): requirements\.lock requirements-dev\.lock$", makefile, re.M)
    assert "pip install --quiet --require-hashes -r requirements-dev.lock" in makefile


def test_there_are_pack_requirement_files() -> None:
    assert {p.parent.name for p in PACK_REQUIREMENTS} == {"tagging", "security", "cost"}


@pytest.mark.parametrize("path", PACK_REQUIREMENTS, ids=lambda p: p.parent.name)
def test_policy_pack_requirements_read_the_root_pins(path: Path) -> None:
    root = pins(ROOT / "requirements.txt")
    pack = pins(path)
    assert unpinned(path) == []
    assert pack, f"{path} pins nothing"
    assert {n: v for n, v in pack.items() if root.get(n) != v} == {}, f"{path} disagrees with requirements.txt"
    assert {"pulumi", "pulumi-policy"} <= set(pack)


def test_pin_reader_catches_a_drift(tmp_path: Path) -> None:
    (tmp_path / "r.txt").write_text("pulumi==3.1.0\npulumi-policy>=1\n# c\n-r other.txt\n")
    assert pins(tmp_path / "r.txt") == {"pulumi": "3.1.0"}
    assert unpinned(tmp_path / "r.txt") == ["pulumi-policy>=1"]
