"""Reading and checking the layer declarations in ``layers/``."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from geoapp.catalog.spec import GeoJSONSource, LayerSpec, WifiSource
from geoapp.errors import LayerConfigError
from geoapp.yamlfile import read_yaml


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(file)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def load_specs(layers_dir: Path, geo_dir: Path) -> list[LayerSpec]:
    """Every declaration in ``layers_dir``, checked; LayerConfigError lists all problems."""
    problems: list[str] = []
    specs: list[LayerSpec] = []
    files = sorted(layers_dir.glob("*.yaml"))
    if not files:
        raise LayerConfigError(f"no layer declarations (*.yaml) in {layers_dir}")
    for path in files:
        try:
            data = read_yaml(path)
            spec = LayerSpec.model_validate(data)
        except yaml.YAMLError as exc:
            problems.append(f"{path.name}: not valid YAML ({exc})")
            continue
        except ValidationError as exc:
            problems.append(f"{path.name}: {_describe(exc)}")
            continue
        if spec.id != path.stem:
            problems.append(f"{path.name}: id {spec.id!r} must match the file name")
        source = spec.source
        if isinstance(source, GeoJSONSource | WifiSource):
            rel = source.path if isinstance(source, GeoJSONSource) else source.sample_path
            if not (geo_dir / rel).is_file():
                problems.append(f"{path.name}: source file {rel} is not in {geo_dir}")
        specs.append(spec)
    seen: set[str] = set()
    for spec in specs:
        if spec.id in seen:
            problems.append(f"layer id {spec.id!r} is declared twice")
        seen.add(spec.id)
    if problems:
        raise LayerConfigError("invalid layer declarations:\n  " + "\n  ".join(problems))
    return sorted(specs, key=lambda s: (s.order, s.id))
