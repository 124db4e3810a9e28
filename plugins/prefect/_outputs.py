"""Record what a run read and returned: inputs linked, outputs saved under their keys."""

import os
from dataclasses import dataclass
from typing import Any

import threadline as tl
from threadline import adapters
from threadline.errors import InvalidInput

from . import _values
from ._options import TrackOptions


@dataclass(frozen=True)
class Naming:
    """What output keys are made of: the transform, the flow, the task, the params."""

    transform_key: str
    flow: str
    task: str
    params: dict[str, Any]
    workdir: str


def link_inputs(run: Any, params: dict[str, Any], options: TrackOptions,
                workdir: str) -> None:
    """Link the Artifacts and existing paths among the tracked parameters as inputs."""
    chosen = {k: v for k, v in params.items() if options.tracks_input(k)}
    if not chosen:
        return
    found = _values.find(chosen, workdir)
    saved = [a for a in found.artifacts if a.id is not None]
    if saved or found.paths:
        adapters.link_inputs(run, paths=found.paths, artifacts=saved)


def save_outputs(run: Any, value: Any, options: TrackOptions, naming: Naming) -> list[Any]:
    """Save the outputs in ``value`` as ``run``'s artifacts; returns every output."""
    found = _values.find(value, naming.workdir, objects=options.save_result)
    count = len(found.paths) + len(found.objects)
    if options.key is not None and count > 1:
        raise InvalidInput(f"key={options.key!r} names one output, but "
                           f"{naming.transform_key} returned {count}; use key_template=")
    outputs = [_saved(artifact, run) for artifact in found.artifacts]
    items = [adapters.Output(path, key=_key(path, index, options, naming))
             for index, path in enumerate(found.paths)]
    if items:
        outputs += adapters.register_outputs(run, items, features=options.features or None)
    for index, obj in enumerate(found.objects, start=len(found.paths)):
        outputs.append(_save_table(run, obj, index, options, naming))
    return outputs


def _saved(artifact: Any, run: Any) -> Any:
    """A returned artifact; one not saved yet is saved now as an output of ``run``."""
    if artifact.id is None:
        if artifact.run_id is None:
            artifact.run = run
        artifact.save()
    return artifact


def _key(path: str, index: int, options: TrackOptions, naming: Naming) -> str | None:
    if options.key is not None:
        return options.key
    relative = _values.relative_key(path, naming.workdir)
    if options.key_template is None:
        return relative
    name = os.path.basename(os.path.normpath(path))
    stem, suffix = os.path.splitext(name)
    return render(options.key_template, naming, name=name, stem=stem, suffix=suffix,
                  path=relative or name, index=index)


def render(template: str, naming: Naming, **fields: Any) -> str:
    """``template`` with the naming fields filled in; a bad template is bad input."""
    try:
        return template.format(flow=naming.flow, task=naming.task, params=naming.params,
                               **fields)
    except (KeyError, IndexError, AttributeError, ValueError) as error:
        raise InvalidInput(f"key_template {template!r} cannot be filled: {error!r}") from None


def _save_table(run: Any, obj: Any, index: int, options: TrackOptions,
                naming: Naming) -> Any:
    """Save a DataFrame (parquet) or AnnData (h5ad) for ``run`` through the core's
    ``Artifact.from_dataframe``/``from_anndata``."""
    is_frame = _values.table_type(obj) == "DataFrame"
    suffix = ".parquet" if is_frame else ".h5ad"
    numbered = f"-{index}" if index else ""
    name = f"{naming.task or naming.flow}{numbered}{suffix}"
    if options.key is not None:
        key = options.key
    elif options.key_template is not None:
        key = render(options.key_template, naming, name=name, stem=name[:-len(suffix)],
                     suffix=suffix, path=name, index=index)
    else:
        key = f"{naming.transform_key}{numbered}{suffix}"
    make = tl.Artifact.from_dataframe if is_frame else tl.Artifact.from_anndata
    artifact = make(obj, key=key, run=run).save()
    if options.features:
        adapters.annotate(artifact, dict(options.features), create_features=True)
    return artifact
