"""Typed query models of the render routes, generated from the key space's parameter specs
(`micro.core.params`) and the catalog's ids, so the OpenAPI document is FastAPI's own.

A query is checked once, by the core's canonicalizer (the one place that knows every
bound, step, default and cross-field rule): the models call it before their fields are
validated, and its `InvalidRequest` (a 4xx naming the field and the allowed values) passes
through pydantic unchanged. The model's fields then hold the canonical values, typed, and
`.request` the canonical request itself.

(No `from __future__ import annotations`: the models are built at runtime from the specs.)
"""

from collections.abc import Callable, Iterable
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model, model_validator

from micro.core.catalog import Catalog
from micro.core.models import MODES
from micro.core.params import (
    CT_PRESETS,
    FORMATS,
    IMAGING_COMMON,
    IMAGING_PARAMS,
    MICROSCOPE_PARAMS,
    MRI_PRESETS,
    Choice,
    Number,
    Param,
)
from micro.core.requests import (
    ImagingRequest,
    MicroscopeRequest,
    canonicalize_imaging,
    canonicalize_microscope,
)

RenderRequest = MicroscopeRequest | ImagingRequest
FieldDef = tuple[Any, Any]
EMPTY = " An empty value takes the default."


class CanonicalQuery(BaseModel):
    """Base of a render query: the canonicalizer validates, the fields are its output."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    canonicalize: ClassVar[Callable[[dict[str, Any]], RenderRequest]]
    texts: ClassVar[frozenset[str]] = frozenset()
    """Fields whose canonical value is a number but whose choices are text (size)."""
    _request: Any = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _canonical(cls, data: Any, handler: Callable[[Any], "CanonicalQuery"]) -> Any:
        if isinstance(data, cls):
            return data
        req = cls.canonicalize(dict(data))  # raises InvalidRequest naming the field
        values = {k: str(v) if k in cls.texts else _typed(v)
                  for k, v in req.params().items() if k in cls.model_fields}
        model = handler(values)
        model._request = req
        return model

    @property
    def request(self) -> RenderRequest:
        """The canonical request this query names."""
        req: RenderRequest = self._request
        return req


def _typed(value: Any) -> Any:
    """A canonical value as its field holds it (choices are text: size "512", "on")."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return value


def _choices(values: Iterable[Any]) -> Any:
    vals = tuple(dict.fromkeys(values))
    return Literal[vals] if vals else str


def _text_choices(tp: Any) -> bool:
    """Whether a field's type is a choice among texts (`Literal["256", ...] | None`)."""
    return any(a is not type(None) and all(isinstance(c, str) for c in get_args(a))
               and get_args(a) for a in get_args(tp))


def _number_doc(p: Number) -> str:
    unit = f"{p.unit}, " if p.unit else ""
    return f"{p.doc} ({unit}step {p.step:g})."


def param_field(p: Param, default: Any = ...) -> FieldDef:
    """The field of one parameter spec (bounds and choices in the type)."""
    value = p.default if default is ... else default
    if isinstance(p, Number):
        return (float | None, Field(value, ge=p.lo, le=p.hi,
                                    description=_number_doc(p) + EMPTY))
    return (_choices(p.choices) | None, Field(value, description=p.doc + EMPTY))


def merged_field(specs: list[Param]) -> FieldDef:
    """One field for a parameter whose spec differs by modality: bounds widened, choices
    joined (the canonicalizer applies the modality's own)."""
    if all(isinstance(p, Number) for p in specs):
        nums = [p for p in specs if isinstance(p, Number)]
        lo, hi = min(p.lo for p in nums), max(p.hi for p in nums)
        return (float | None, Field(None, ge=lo, le=hi, description=nums[0].doc
                                    + " (bounds and step by modality)." + EMPTY))
    if all(isinstance(p, Choice) for p in specs):
        choices = [c for p in specs if isinstance(p, Choice) for c in p.choices]
        return (_choices(choices) | None, Field(None, description=specs[0].doc
                                                + " (choices by modality)." + EMPTY))
    return (str | float | None, Field(None, description=specs[0].doc))


def _model(name: str, doc: str, canon: Callable[[dict[str, Any]], RenderRequest],
           fields: dict[str, FieldDef]) -> type[CanonicalQuery]:
    texts = frozenset(k for k, (tp, _) in fields.items() if _text_choices(tp))
    base = type(f"{name}Base", (CanonicalQuery,),
                {"__doc__": doc, "canonicalize": staticmethod(canon), "texts": texts})
    return create_model(name, __base__=base, **fields)  # type: ignore[call-overload]


def microscope_fields(cat: Catalog) -> dict[str, FieldDef]:
    mags = sorted({o.magnification for i in cat.microscope_ids()
                   for o in cat.instruments[i].objectives})  # type: ignore[union-attr]
    fields: dict[str, FieldDef] = {
        "instrument": (_choices(cat.microscope_ids()), Field(description="Microscope id.")),
        "specimen": (_choices(sorted(cat.specimens)), Field(description="Specimen id.")),
        "objective": (_choices(mags) | None, Field(
            None, description="Objective magnification (one on the instrument; default: "
            "the specimen's recommended one).")),
        "stain": (_choices(sorted(cat.stains)) | None, Field(
            None, description="Stain id (one of the specimen's; default: its first).")),
        "mode": (_choices(MODES) | None, Field(
            None, description="Contrast mode (one of the instrument's).")),
        "format": (_choices(FORMATS) | None, Field("jpg", description="Image format.")),
    }
    for p in MICROSCOPE_PARAMS:
        fields[p.name] = param_field(p)
    return fields


def imaging_fields(cat: Catalog) -> dict[str, FieldDef]:
    ids = [i for i in cat.imaging_ids()
           if cat.instruments[i].modality in IMAGING_PARAMS]  # type: ignore[union-attr]
    fields: dict[str, FieldDef] = {
        "instrument": (_choices(ids), Field(description="Imaging instrument id.")),
        "phantom": (_choices(sorted(cat.phantoms)), Field(description="Phantom id.")),
        "variant": (str | None, Field(None, max_length=64, description="'default' or one "
                                      "of the phantom's variants.")),
        "modality": (_choices(IMAGING_PARAMS) | None, Field(
            None, description="The instrument's modality (optional; checked against it).")),
        "preset": (_choices(sorted({*CT_PRESETS, *MRI_PRESETS})) | None, Field(
            None, description="CT window preset or MRI contrast preset (sets window and "
            "level, or the sequence and its timings).")),
        "format": (_choices(FORMATS) | None, Field("jpg", description="Image format.")),
    }
    for p in IMAGING_COMMON:
        fields[p.name] = param_field(p)
    by_name: dict[str, list[Param]] = {}
    for specs in IMAGING_PARAMS.values():
        for p in specs:
            by_name.setdefault(p.name, []).append(p)
    for name, same in by_name.items():
        fields[name] = merged_field(same)
    return fields


def microscope_query(cat: Catalog) -> type[CanonicalQuery]:
    return _model("MicroscopeQuery", "A microscope view's parameters.",
                  lambda params: canonicalize_microscope(params, cat), microscope_fields(cat))


def imaging_query(cat: Catalog) -> type[CanonicalQuery]:
    return _model("ImagingQuery", "A medical image's parameters.",
                  lambda params: canonicalize_imaging(params, cat), imaging_fields(cat))


def without(fields: dict[str, FieldDef], *names: str) -> dict[str, FieldDef]:
    return {k: v for k, v in fields.items() if k not in names}


def body_model(name: str, fields: dict[str, FieldDef]) -> type[BaseModel]:
    """The JSON body of the original POST API: the same fields (the answer is always PNG),
    for the OpenAPI document; the route reads the body itself (415 for non-JSON, no NaN)."""
    return create_model(  # type: ignore[call-overload]
        name, __config__=ConfigDict(extra="forbid"), **without(fields, "format"))


MAGNIFICATION: FieldDef = (Annotated[float, Field(gt=0)] | None, Field(
    None, description="An objective's magnification or the total magnification (objective "
    "× eyepiece × tube factor); instead of `objective`."))


class PathQuery(BaseModel):
    """Query of a canonical /r/ path: the path is the whole request."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    sig: str | None = Field(None, description="Signature of the path, when "
                            "this server renders only signed paths that are not cached yet.")
