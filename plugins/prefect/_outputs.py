"""Record what a run read and returned: inputs linked, outputs saved under their keys.

Outputs are all or nothing as far as the user's options go: every key is rendered and
checked, and the ``features`` values checked, before any output is stored, so a
``key_template`` that cannot be filled or a bad feature value stores none of a run's
outputs (the hook then errors the run, see ``_hooks``).
"""

import os
from dataclasses import dataclass, field
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


@dataclass
class Plan:
    """A run's outputs, keyed and checked, not stored yet."""

    artifacts: list[Any] = field(default_factory=list)  # returned tl.Artifacts
    paths: list[adapters.Output] = field(default_factory=list)
    tables: list[Any] = field(default_factory=list)  # unsaved DataFrame/AnnData artifacts


def link_inputs(
    run: Any,
    params: dict[str, Any],
    options: TrackOptions,
    workdir: str,
    producers: dict[str, list[Any]] | None = None,
) -> None:
    """Link the Artifacts and existing paths among the tracked parameters as inputs, by
    the adapter API's one input rule: an Artifact as given; a path to the output of the
    task whose future carried it (``producers``: runs by parameter name), else to what
    was last registered at its key (the path relative to ``workdir``), else by content;
    a file no run produced is registered as source data named by that relative path."""
    inputs: list[Any] = []
    for name, value in params.items():
        if type(value) in _values.PLAIN or not options.tracks_input(name):
            continue  # a number (most task arguments): never an input
        found = _values.find(value, workdir)
        made = tuple((producers or {}).get(name, ()))
        inputs += [a for a in found.artifacts if a.id is not None]
        inputs += [adapters.Input(path=path, producers=made) for path in found.paths]
    if inputs:
        adapters.resolve_inputs(run, inputs, workdir=workdir)


def save_outputs(run: Any, value: Any, options: TrackOptions, naming: Naming) -> list[Any]:
    """Save the outputs in ``value`` as ``run``'s artifacts; returns every output."""
    if type(value) in _values.PLAIN and not options.features:
        return []  # a number (most task runs' result): nothing to save
    found = _values.find(value, naming.workdir, objects=options.save_result)
    if not (found.artifacts or found.paths or found.objects or options.features):
        return []  # nothing to save (most task runs): no plan to check, nothing to store
    plan = plan_outputs(run, found, options, naming)
    features = dict(options.features)
    if features:  # a value that does not fit stops it here, before anything is stored
        adapters.check_features(features, create_features=True)
    return _store(run, plan, features)


def plan_outputs(run: Any, found: _values.Found, options: TrackOptions, naming: Naming) -> Plan:
    """Key every output (raising on a bad key) without storing anything."""
    count = len(found.paths) + len(found.objects)
    if options.key is not None and count > 1:
        raise InvalidInput(
            f"key={options.key!r} names one output, but "
            f"{naming.transform_key} returned {count}; use key_template="
        )
    plan = Plan(artifacts=list(found.artifacts))
    plan.paths = [
        adapters.Output(path, key=output_key(options, naming, index, path=path))
        for index, path in enumerate(found.paths)
    ]
    for index, obj in enumerate(found.objects, start=len(found.paths)):
        plan.tables.append(_table(run, obj, index, options, naming))
    keys = [o.key for o in plan.paths if o.key] + [t.key for t in plan.tables]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise InvalidInput(
            f"two outputs of {naming.transform_key} would have the key "
            f"{twice[0]!r}; use a key_template with {{name}} or {{index}}"
        )
    return plan


def output_key(
    options: TrackOptions, naming: Naming, index: int, *, path: str | None = None, suffix: str = ""
) -> str | None:
    """The key of output number ``index``: a returned ``path``, else an in-memory table
    stored with ``suffix``. ``key``, else ``key_template``, else the path relative to the
    working directory (None outside it) or, for a table, ``<transform key>[-index]<suffix>``.
    """
    if options.key is not None:
        return adapters.check_key(options.key)
    if path is not None:
        name = os.path.basename(os.path.normpath(path))
        relative = _values.relative_key(path, naming.workdir)
        default = relative
    else:
        numbered = f"-{index}" if index else ""
        name = relative = f"{naming.task or naming.flow}{numbered}{suffix}"
        default = f"{naming.transform_key}{numbered}{suffix}"
    if options.key_template is None:
        return default
    stem, ext = os.path.splitext(name)
    return adapters.check_key(
        render(
            options.key_template,
            naming,
            name=name,
            stem=stem,
            suffix=ext,
            path=relative or name,
            index=index,
        )
    )


def render(template: str, naming: Naming, **fields: Any) -> str:
    """``template`` with the naming fields filled in; a bad template is bad input."""
    try:
        return template.format(flow=naming.flow, task=naming.task, params=naming.params, **fields)
    except (KeyError, IndexError, AttributeError, ValueError) as error:
        raise InvalidInput(f"key_template {template!r} cannot be filled: {error!r}") from None


def _table(run: Any, obj: Any, index: int, options: TrackOptions, naming: Naming) -> Any:
    """An unsaved artifact for a DataFrame (parquet) or AnnData (h5ad), made by the core's
    ``Artifact.from_dataframe``/``from_anndata`` (which check the key's suffix)."""
    is_frame = _values.table_type(obj) == "DataFrame"
    key = output_key(options, naming, index, suffix=".parquet" if is_frame else ".h5ad")
    make = tl.Artifact.from_dataframe if is_frame else tl.Artifact.from_anndata
    return make(obj, key=key, run=run)


def _store(run: Any, plan: Plan, features: dict[str, Any]) -> list[Any]:
    """Store a checked plan: paths first, then tables and returned artifacts, annotated
    together."""
    paths = (
        adapters.register_outputs(run, plan.paths, features=features or None) if plan.paths else []
    )
    tables = [artifact.save() for artifact in plan.tables]
    returned = [_saved(artifact, run) for artifact in plan.artifacts]
    if features:
        annotated = {p.id for p in paths}
        unique = {a.id: a for a in [*tables, *returned] if a.id not in annotated}
        if unique:
            adapters.annotate_records(
                [(a, features) for a in unique.values()], create_features=True
            )
    return [*returned, *paths, *tables]


def _saved(artifact: Any, run: Any) -> Any:
    """A returned artifact; one not saved yet is saved now as an output of ``run``."""
    if artifact.id is None:
        if artifact.run_id is None:
            artifact.run = run
        artifact.save()
    return artifact
