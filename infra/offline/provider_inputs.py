"""Every cloud resource's inputs held against its provider's own schema, as its SDK carries it.

The Pulumi SDKs (pulumi_gcp, pulumi_aws, pulumi_kubernetes, pulumi_random) are generated
from each provider's schema: a resource's `<Class>Args` and every nested `...Args` input
type list exactly the properties the provider accepts, under their schema names
(`pulumi.getter(name=...)`), with their types. Under the mock engine nothing else looks at
inputs, and a nested property passed as a plain dict with a misspelt key travels to the
provider unchecked; the first to notice would be `pulumi up`. So the offline plan walks the
recorded inputs of every provider resource through those types and refuses:

- a property the schema does not have (with the nearest name it does have);
- a missing required property (a resource argument without a default in the SDK);
- a structure where the schema wants a scalar, or a scalar where it wants an object or list.

Kinds the SDK types loosely (`Any`, maps of strings, Helm values, custom resources) are
left to the engines that own them (helm, the CRD catalog).
"""

from __future__ import annotations

import collections.abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cache
import importlib
import inspect
import sys
import typing
from typing import Any, ForwardRef

from infra.engines.schema import Invalid

# Provider packages whose SDKs are in the project venv, by the token's package part.
PACKAGES = {"gcp": "pulumi_gcp", "aws": "pulumi_aws", "kubernetes": "pulumi_kubernetes", "random": "pulumi_random"}
# Resources whose inputs are free-form by design (their bodies are checked elsewhere).
FREE_FORM = ("kubernetes:apiextensions.k8s.io/v1:CustomResource",)


@dataclass(frozen=True)
class Field:
    """One property of an input type: its nested input type, and how values hold it."""

    shape: str  # "object" (one nested type), "list" (of the nested type or scalars), "map", "scalar", "any"
    nested: type | None  # the nested input type, where there is one
    scalar: tuple[type, ...] = ()  # the accepted Python types of a scalar


def _module_of(cls: type) -> dict[str, Any]:
    return vars(sys.modules[cls.__module__])


def _resolve(ref: Any, namespace: Mapping[str, Any]) -> Any:
    """A forward reference by name; dotted names (`_meta.v1.ObjectMetaArgs`) through modules."""
    if isinstance(ref, ForwardRef):
        ref = ref.__forward_arg__
    if not isinstance(ref, str):
        return ref
    head, *rest = ref.strip("'\"").split(".")
    found = namespace.get(head)
    for part in rest:
        found = getattr(found, part, None)
    return found


def _is_input_type(obj: Any) -> bool:
    return inspect.isclass(obj) and any(isinstance(p, property) and hasattr(p.fget, "_pulumi_name")
                                        for p in vars(obj).values())


def _walk(annotation: Any, namespace: Mapping[str, Any], found: dict[str, set[Any]], container: str = "") -> None:
    """Collect what an annotation allows: nested input types and scalars, by container."""
    annotation = _resolve(annotation, namespace)
    if annotation is None or annotation is type(None):
        return
    if annotation is Any:
        found["any"].add(Any)
        return
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (collections.abc.Awaitable,) or getattr(annotation, "__name__", "") == "Output":
        return  # an Output or awaitable of the same type: already covered by the plain alternative
    if origin is typing.Union:
        for arg in args:
            _walk(arg, namespace, found, container)
        return
    if origin in (collections.abc.Sequence, list, tuple):
        for arg in args:
            _walk(arg, namespace, found, "list")
        return
    if origin in (collections.abc.Mapping, dict):
        found["map"].add(args[1] if len(args) == 2 else Any)
        return
    if _is_input_type(annotation):
        found[container or "object"].add(annotation)
    elif inspect.isclass(annotation):
        found[f"{container}scalar"].add(annotation)
    else:  # TypeVars of Input[T] and the like
        found["any"].add(Any)


def _field(annotation: Any, namespace: Mapping[str, Any]) -> Field:
    found: dict[str, set[Any]] = collections.defaultdict(set)
    _walk(annotation, namespace, found)
    if found["any"] or found["map"]:
        return Field(shape="any" if found["any"] else "map", nested=None)
    if found["object"] and found["scalar"]:  # an object or its JSON (aws iam policies)
        return Field(shape="any", nested=None)
    if found["object"]:
        return Field(shape="object", nested=next(iter(found["object"])))
    if found["list"] or found["listscalar"]:
        nested = next(iter(found["list"]), None)
        return Field(shape="list", nested=nested, scalar=tuple(found["listscalar"]))
    return Field(shape="scalar", nested=None, scalar=tuple(found["scalar"]))


@cache
def fields(cls: type) -> dict[str, Field]:
    """{schema name: Field} of an input type (a resource's Args or a nested ...Args)."""
    namespace = _module_of(cls)
    out = {}
    for klass in reversed(cls.__mro__):
        for attr in vars(klass).values():
            getter: Any = attr.fget if isinstance(attr, property) else None
            if hasattr(getter, "_pulumi_name"):
                out[str(getter._pulumi_name)] = _field(getter.__annotations__.get("return", Any), namespace)
    return out


@cache
def required(cls: type) -> tuple[str, ...]:
    """The schema names of the arguments a resource's Args cannot do without."""
    getters: dict[str, Any] = {n: p.fget for n, p in vars(cls).items() if isinstance(p, property)}
    names = {n: str(g._pulumi_name) for n, g in getters.items() if hasattr(g, "_pulumi_name")}
    params = inspect.signature(vars(cls)["__init__"]).parameters.values()
    return tuple(names[p.name] for p in params if p.default is inspect.Parameter.empty and p.name in names)


@cache
def resource_classes(package: str) -> dict[str, tuple[str, str]]:
    """{type token: (module, class name)} from the SDK's own registration table."""
    import json

    source = inspect.getsource(importlib.import_module(PACKAGES[package]))
    start = source.index('resource_modules="""') + len('resource_modules="""')
    table = json.loads(source[start:source.index('"""', start)])
    return {token: (entry["fqn"], name) for entry in table for token, name in entry["classes"].items()}


def args_class(token: str) -> type | None:
    """The `<Class>Args` input type of a resource type token, or None (not a provider resource)."""
    package = token.split(":", 1)[0]
    if package not in PACKAGES or token in FREE_FORM:
        return None
    found = resource_classes(package).get(token)
    if found is None:
        return None
    module = importlib.import_module(found[0])
    # Where a nested input type already has the name `<Class>Args`, the SDK names the
    # resource's own arguments `<Class>InitArgs` (aws.s3.BucketServerSideEncryptionConfiguration).
    for name in (f"{found[1]}InitArgs", f"{found[1]}Args"):
        cls = getattr(module, name, None)
        if _is_input_type(cls):
            return cls
    return None


def _scalar_ok(value: Any, accepted: Sequence[type]) -> bool:
    if not accepted or (isinstance(value, str) and value.startswith(("[secret]", "[unknown]"))):
        return True
    if isinstance(value, bool):
        return bool in accepted or str in accepted
    if isinstance(value, (int, float)):
        return any(t in accepted for t in (int, float, str))  # providers coerce numbers to strings
    return (isinstance(value, str) and str in accepted) or not isinstance(value, (dict, list))


def check_value(value: Any, field: Field, path: str) -> list[tuple[str, str]]:
    """(path, message) for each way `value` breaks `field`."""
    if value is None or field.shape in ("any", "map"):
        return []
    if field.shape == "object" and field.nested is not None:
        if not isinstance(value, Mapping):
            return [(path, f"the schema wants an object ({field.nested.__name__}), got {type(value).__name__}")]
        return check_object(value, field.nested, path)
    if field.shape == "list":
        if not isinstance(value, list):
            return [(path, f"the schema wants a list, got {type(value).__name__}")]
        item = Field(shape="object" if field.nested else "scalar", nested=field.nested, scalar=field.scalar)
        return [p for i, v in enumerate(value) for p in check_value(v, item, f"{path}[{i}]")]
    if isinstance(value, (dict, list)):
        return [(path, f"the schema wants a {'/'.join(t.__name__ for t in field.scalar) or 'scalar'}, "
                       f"got {type(value).__name__}")]
    if not _scalar_ok(value, field.scalar):
        return [(path, f"the schema wants {'/'.join(t.__name__ for t in field.scalar)}, got {value!r}")]
    return []


def check_object(value: Mapping[str, Any], cls: type, path: str = "") -> list[tuple[str, str]]:
    known = fields(cls)
    problems = []
    for key in sorted(value):
        where = f"{path}.{key}" if path else key
        if key not in known:
            near = get_close_matches(key, list(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            problems.append((where, f"{cls.__name__} has no property {key!r}{hint}"))
            continue
        problems += check_value(value[key], known[key], where)
    return problems


def check_records(records: Iterable[Any]) -> list[Invalid]:
    """One Invalid per problem of every provider resource the program registered."""
    problems = []
    for record in records:
        cls = args_class(record.type)
        if cls is None:
            continue
        where = f"resources.json {record.type} {record.name}"
        inputs: Mapping[str, Any] = record.inputs
        problems += [Invalid(where, path, message) for path, message in check_object(inputs, cls)]
        problems += [Invalid(where, name, f"{cls.__name__}: required property {name!r} is missing")
                     for name in required(cls) if inputs.get(name) is None and name not in ("name",)]
    return problems
