"""A readable text tree of one artifact: identity, storage, provenance, annotations."""

from typing import Any


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def describe_artifact(artifact: Any) -> str:
    lines = [
        f"Artifact {artifact.key or '(no key)'}  v{artifact.version}"
        f"{'  (latest)' if artifact.is_latest else ''}"
    ]
    lines.append(f"├── uid: {artifact.uid}   hash: sha256:{artifact.hash[:16]}...")
    kind = f"{artifact.kind}" + (f", {artifact.n_files} files" if artifact.n_files else "")
    lines.append(f"├── size: {_size(artifact.size)}   kind: {kind}   suffix: {artifact.suffix}")
    lines.append(f"├── storage: {artifact.uri}{'  (in place)' if artifact.in_place else ''}")
    if artifact.otype or artifact.schema_id is not None:
        rows = artifact.n_observations
        data = f"├── otype: {artifact.otype or '-'}   observations: {'?' if rows is None else rows}"
        if artifact.schema_id is not None:
            data += f"   schema: {artifact.schema.name} v{artifact.schema.version}"
        lines.append(data)
    if artifact.visibility != "main":
        lines.append(f"├── visibility: {artifact.visibility}")
    run = artifact.run if artifact.run_id is not None else None
    if run is not None:
        lines.append(f"├── run: {run.uid} ({run.status}, {run.engine or 'python'})")
        lines.append(
            f"│   └── transform: {run.transform.key} v{run.transform.version} "
            f"({run.transform.kind})"
        )
        inputs = list(run.inputs)
        lines.append(f"├── inputs of that run: {len(inputs)}")
        for item in inputs[:20]:
            lines.append(f"│   ├── {item.key or item.uid} v{item.version}")
    features = artifact.features.get_values()
    lines.append(f"├── features: {len(features)}")
    for name, value in sorted(features.items()):
        lines.append(f"│   ├── {name} = {value!r}")
    labels = [label.name for label in artifact.labels.all()]
    lines.append(f"└── labels: {', '.join(labels) if labels else '-'}")
    return "\n".join(lines)
