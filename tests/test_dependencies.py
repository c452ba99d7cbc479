"""Two locks: the runtime one (all the Docker image installs) and the development and test tools."""

import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.services import REPO

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def pins(filename: str) -> dict[str, str]:
    """name → version for every line of a lock; anything but a comment or an exact pin fails the test."""
    found = {}
    for line in (REPO / filename).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"{filename}: not an exact pin: {line!r}"
        found[canonicalize_name(match[1])] = match[2]
    return found


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def closure(requirements: list[str]) -> set[str]:
    """Every distribution the requirements pull in, read from the installed packages' metadata."""
    seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = seen.get(name)
        if extras is not None and set(req.extras) <= extras:
            continue
        seen[name] = (extras or set()) | set(req.extras)
        for spec in metadata.distribution(req.name).requires or []:
            dep = Requirement(spec)
            wanted = [{"extra": e} for e in ["", *sorted(seen[name])]]
            if dep.marker is None or any(dep.marker.evaluate(env) for env in wanted):
                todo.append(dep)
    return set(seen)


def test_the_runtime_lock_names_no_development_tool():
    runtime = pins("requirements.lock")
    dev_tools = names(project()["optional-dependencies"]["dev"])
    assert dev_tools >= {"pytest", "pytest-django", "responses", "hypothesis", "ruff", "playwright", "polib"}
    assert not dev_tools & set(runtime), "requirements.lock pins development tools"
    assert not set(pins("requirements-dev.lock")) & set(runtime), "a package is pinned in both locks"


def test_each_lock_pins_everything_its_side_needs():
    runtime, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    declared = project()
    missing_runtime = closure(declared["dependencies"]) - set(runtime)
    assert not missing_runtime, f"requirements.lock lacks {sorted(missing_runtime)}"
    missing_dev = closure(declared["optional-dependencies"]["dev"]) - set(runtime) - set(dev)
    assert not missing_dev, f"requirements-dev.lock lacks {sorted(missing_dev)}"
    unused = set(runtime) - closure(declared["dependencies"])
    assert not unused, f"requirements.lock pins what no runtime dependency needs: {sorted(unused)}"


def test_the_installed_environment_is_the_locked_one():
    """The locks pin what this suite runs on (make install puts exactly them in .venv)."""
    for name, version in {**pins("requirements.lock"), **pins("requirements-dev.lock")}.items():
        assert metadata.version(name) == version, name


def test_the_docker_image_installs_the_runtime_lock_only():
    dockerfile = (REPO / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("-r requirements.lock" in line for line in installs), installs
    assert "requirements-dev.lock" not in dockerfile and ".[dev]" not in dockerfile
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored  # a local environment with the dev tools is never copied in


def test_the_product_imports_no_development_tool():
    """What the production settings run (their apps, config/) imports only what requirements.lock installs."""
    import ast

    from config import settings as production

    dev_only = set(pins("requirements-dev.lock"))
    providers = metadata.packages_distributions()  # top-level module → the distributions providing it
    local_apps = [app for app in production.INSTALLED_APPS if (REPO / app).is_dir()]
    assert "sandbox" not in local_apps and "haravan" in local_apps
    files = [f for app in local_apps for f in (REPO / app).rglob("*.py") if "migrations" not in f.parts]
    files += [f for f in (REPO / "config").glob("*.py") if f.name != "demo_settings.py"]
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top == "sandbox" or any(canonicalize_name(d) in dev_only for d in providers.get(top, [])):
                    found.add(f"{path.relative_to(REPO)}: {module}")
    assert not found, sorted(found)
