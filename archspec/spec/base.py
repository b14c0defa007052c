"""Shared Pydantic base: every spec model is strict, frozen and forbids unknown keys."""


from functools import cache
from typing import Annotated, Any, Callable, get_args, get_origin

from annotated_types import Ge, Gt
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, Strict, Tag
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema as cs

# Strict numbers: YAML reads yes/no/on/off as booleans, and Pydantic's lax mode would
# turn `classes: yes` into 1 class or `width: "16"` into 16. Ints still fill floats.
PositiveInt = Annotated[int, Strict(), Gt(0)]
NonNegativeInt = Annotated[int, Strict(), Ge(0)]
PositiveFloat = Annotated[float, Strict(), Gt(0)]
NonNegativeFloat = Annotated[float, Strict(), Ge(0)]


class CountFree:
    """Marks a field that no parameter or MAC count depends on: the rate of a dropout or
    stochastic-depth step, which has no weights and multiplies nothing. A design-space sampler
    judges draws that differ only in such fields by one plan's counts (archspec/space/sample.py;
    tests/test_space_sample.py plans every bundled spec with each such field changed)."""


COUNT_FREE = CountFree()
Probability = Annotated[float, Strict(), Field(ge=0.0, lt=1.0), COUNT_FREE]  # dropout and drop path rates


def _odd(kernel: int) -> int:
    if kernel % 2 == 0:
        raise ValueError(f"kernel {kernel} is even; it must be odd (3, 5, 7) so that 'same' padding exists")
    return kernel


OddKernel = Annotated[PositiveInt, AfterValidator(_odd)]  # a kernel padded to keep the map size


class StrictModel(BaseModel):
    """Base of every spec model: unknown keys are errors, never silently dropped; no float field
    takes NaN or infinity (``batchnorm.eps: .inf`` would zero every activation, and a NaN
    compares false with every bound) unless it says so with ``Field(allow_inf_nan=True)``.

    ``defer_build``: a model's validator is built when it first validates, not when its class
    is defined. Built eagerly, every model nesting the block union (stage, body, spec)
    compiled every block kind again at each start; deferred, only the models a command
    validates are built, each once (and those whose instances are field defaults, at import:
    ``model_construct`` would spare them, but an unbuilt model's instance cannot be encoded
    as a JSON Schema default).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False,
                              defer_build=True)


@cache
def has_attribute(cls: type, name: str) -> bool:
    """``hasattr`` for instances of ``cls`` (a field, property or class attribute), asked once per class and name.

    Probing a spec model for an attribute it lacks (``getattr(block, "growth", None)``)
    goes through Pydantic's ``__getattr__``, which raises twice, and costs a few
    microseconds per probe: a design-space sampler makes a dozen per variant, for
    hundreds of thousands of variants. The answer depends on the class alone.
    """
    return name in getattr(cls, "__pydantic_fields__", ()) or any(name in vars(k) for k in cls.__mro__)


def attribute(obj: Any, name: str, default: Any = None) -> Any:
    """``getattr(obj, name, default)`` for spec parts (or None), without the cost of a miss (see :func:`has_attribute`)."""
    return getattr(obj, name) if has_attribute(type(obj), name) else default


class EachKindOnFirstUse:
    """A union's validator (``Annotated[Union[...], EachKindOnFirstUse("type")]``): tagged by the field
    ``discriminator`` names (or by a function of the value), each member validated by its own model's
    validator, built when a spec first uses that kind.

    Pydantic would otherwise generate and compile every member's schema into the union, and into
    every model that holds it, at the first validation, for the one kind a spec uses (of 8 stems,
    10 heads, 20 block types): a cost that grows with each kind added. The union's behaviour is
    Pydantic's own for a discriminated union: the same tags in error locations
    (``stem.conv.width``), the same errors, the same JSON schema (each member's, read from its
    model when a schema is made). A member's tags are its ``Tag`` or the values of its
    discriminator field's ``Literal``.
    """

    def __init__(self, discriminator: "str | Callable[[Any], str]" = "type") -> None:
        self.discriminator = discriminator

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> cs.CoreSchema:
        choices: dict[Any, cs.CoreSchema] = {}
        for member in get_args(source):
            if get_origin(member) is Annotated:
                model, tag = get_args(member)[0], next(m.tag for m in get_args(member)[1:] if isinstance(m, Tag))
                tags: tuple[Any, ...] = (tag,)
            else:
                model, tags = member, get_args(member.model_fields[self.discriminator].annotation)
            for tag in tags:
                choices[tag] = validated_by(model)
        return cs.tagged_union_schema(choices, self.discriminator)


def validated_by(model: Any) -> cs.CoreSchema:
    """A schema validating with ``model``'s own validator (built on first use), whose JSON schema is the
    model's (a ``$ref`` into ``$defs``, as a union member's is)."""

    def validate(value: Any, info: cs.ValidationInfo) -> Any:
        return model.__pydantic_validator__.validate_python(value, context=info.context)

    def json_schema(_: cs.CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # the whole generator, not the handler's inner step, so the model is a $ref into $defs as in a union
        generator = getattr(handler, "generate_json_schema", None)
        return (generator.generate_inner if generator is not None else handler)(model.__pydantic_core_schema__)

    return cs.with_info_plain_validator_function(validate, metadata={"pydantic_js_annotation_functions": [json_schema]})


def empty_list() -> list:
    """A new empty list: the ``default_factory`` of list fields, in place of ``list`` itself.

    Pydantic reads a default factory's signature (does it take the validated data?). A builtin's
    signature comes from its text signature, which ``inspect`` reads with ``tokenize``, whose first
    use compiles a regular expression of several milliseconds: a twentieth of a light command's start.
    """
    return []


def empty_dict() -> dict:
    """A new empty dict: the ``default_factory`` of dict fields (see :func:`empty_list`)."""
    return {}
