"""``fastconv info``: build_info(), threads and devices."""

from __future__ import annotations

import argparse
import json
import os
from importlib import metadata
from typing import Any, Dict, List, Tuple


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="print how fastconv was built and what it found on this machine",
                       description="Print fastconv.build_info(): version, compiler, CPU ISA paths (compiled, "
                                   "selected, detected), CUDA build and architectures, GPUs, threads.")
    p.add_argument("--json", action="store_true", help="print build_info() as JSON")
    p.set_defaults(run=run)


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def _join(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) if value else "none"
    return str(value)


def format_info(info: Dict[str, Any]) -> List[Tuple[str, str]]:
    """(label, text) lines for build_info(); keys not known here are listed at the end as they are."""
    rows = [
        ("version", str(info.get("version", "?"))),
        ("compiler", str(info.get("compiler", "?"))),
        ("arch", str(info.get("arch", "?"))),
        ("cpu isa compiled", _join(info.get("cpu_isa_compiled", []))),
        ("cpu isa selected", str(info.get("cpu_isa_selected", "?"))),
        ("cpu isa detected", _join(info.get("cpu_features", []))),
    ]
    if info.get("cuda"):
        cuda = "built"
        extra = [f"nvcc {info['cuda_compiler_version']}" if info.get("cuda_compiler_version") else "",
                 f"runtime {info['cuda_runtime_version']}" if info.get("cuda_runtime_version") else ""]
        extra = [e for e in extra if e]
        if extra:
            cuda += f" ({', '.join(extra)})"
    else:
        cuda = "not built"
    rows += [
        ("cuda", cuda),
        ("cuda archs", str(info.get("cuda_archs") or "-")),
        ("gpus", _join(info.get("cuda_devices", []))),
        ("threads", f"{info.get('num_threads', '?')} (usable cores: {usable_cores()})"),
        ("python", str(info.get("python", "?"))),
    ]
    known = {"version", "compiler", "arch", "cpu_isa_compiled", "cpu_isa_selected", "cpu_features", "cuda",
             "cuda_compiler_version", "cuda_runtime_version", "cuda_archs", "cuda_devices", "num_threads", "python"}
    rows += [(k.replace("_", " "), _join(v)) for k, v in info.items() if k not in known]
    return rows


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import fastconv

    info = fastconv.build_info()
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True, default=str))
        return 0
    print(f"fastconv {fastconv.__version__}")
    rows = format_info(info)
    rows.append(("numpy", np.__version__))
    torch_version = _version("torch")
    rows.append(("torch", f"{torch_version} (bench compares against it)" if torch_version
                 else "not installed (bench will skip it)"))
    width = max(len(label) for label, _ in rows)
    for label, text in rows:
        print(f"  {label:<{width}}  {text}")
    return 0
