"""Rendering and writing a plugin distribution from the templates in ``templates/``.

Every check (names, what is taken, the transformers class) runs before anything is written, and the
files go into a hidden folder that is renamed into place at the end: a failed run leaves nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

from robovlms.errors import RoboVLMsError, first_line
from robovlms.plugins.kinds import ACTION_HEAD, BACKBONE, ComponentKind
from robovlms.scaffold.buildable import defaults_fail
from robovlms.scaffold.hf import (
    RESIZED,
    HFClass,
    NotThePattern,
    facts,
    qformer_layout,
    resolve,
    top_level_layout,
    towers,
)
from robovlms.scaffold.inner_vlm import inner_vlm_facts, settled
from robovlms.scaffold.linear_patches import patch_facts
from robovlms.scaffold.naming import PluginName, check_free, parse
from robovlms.scaffold.positioned_patches import positioned_facts
from robovlms.scaffold.prepended import prepended_facts
from robovlms.scaffold.vq import vq_facts
from robovlms.version import PLUGIN_API_VERSION, __version__


@dataclass(frozen=True)
class Generated:
    """What ``new_plugin`` wrote, and the lines in it that a person still has to decide."""

    path: Path
    plugin: PluginName
    kind: ComponentKind
    hf: HFClass | None
    todos: list[str]

    def summary(self) -> str:
        label = self.kind.label
        lines = [f"wrote {self.path} ({label} {self.plugin.component!r}, distribution {self.plugin.distribution})"]
        if self.hf is not None and self.hf.reason is None:
            lines.append(f"{self.hf.name} follows a pattern robovlms knows: all but the TODOs below is filled in")
        elif self.hf is not None:
            lines.append(f"{self.hf.name} is not of a pattern robovlms knows ({self.hf.reason}); fill in the stubs")
        lines += [f"  {todo}" for todo in self.todos]
        where = str(self.path) if self.path.is_absolute() else f"./{self.path}"  # pip reads a bare name as PyPI's
        lines.append(f'next: pip install "{where}[test]" && pytest {where}/tests')
        return "\n".join(lines)


#: the kinds the generator writes; an environment wraps a simulator, which no template can guess
SCAFFOLDED: tuple[ComponentKind, ...] = (BACKBONE, ACTION_HEAD)


def new_plugin(
    name: str, *, kind: str | ComponentKind = "backbone", hf_class: str | None = None, output: str | Path = "."
) -> Generated:
    """Write the distribution ``name`` (``robovlms-<component>``) into ``output``; raise a one-line error instead."""
    chosen = next((k for k in SCAFFOLDED if k.key == str(kind)), None)
    if chosen is None:
        raise RoboVLMsError(f"--kind must be one of {', '.join(k.key for k in SCAFFOLDED)}, got {str(kind)!r}")
    kind = chosen
    if hf_class is not None and kind is not BACKBONE:
        raise RoboVLMsError("--hf-class applies to backbones only")
    plugin = parse(name)
    target = Path(output) / plugin.distribution
    check_free(plugin, kind, target)
    hf = None if hf_class is None else settle(plugin, resolve(hf_class))
    rendered = render(plugin, kind, hf)
    _write(rendered, target)
    todos = [
        f"{target / path}:{number}: {line.strip()}"
        for path, text in rendered.items()
        if path.endswith(".py")
        for number, line in enumerate(text.splitlines(), 1)
        if "TODO(" in line
    ]
    return Generated(target, plugin, kind, hf, todos)


#: the kinds of class whose facts a module of their own settles, asked in turn before :func:`facts`
OWN_FACTS = (vq_facts, patch_facts, positioned_facts, prepended_facts, inner_vlm_facts)


def settle(plugin: PluginName, cls: type[Any]) -> HFClass:
    """The facts about ``cls``, confirmed by running the plugin they render (see :mod:`robovlms.scaffold.check`).

    Which towers the class has is read off a tiny model built from the rendered presets; then the
    whole plugin runs once. A failure at any step turns the facts into a reason for stubs.
    """
    from robovlms.scaffold.check import FULL_FAILS, TINY_FAILS, imported
    from robovlms.scaffold.encoder_output import encoder_output
    from robovlms.scaffold.row_tokens import extra_tokens
    from robovlms.scaffold.token_types import token_types

    hf = next(filter(None, (find(cls) for find in OWN_FACTS)), None) or facts(cls)
    if hf.reason is not None:
        return hf
    try:
        with imported(render(plugin, BACKBONE, hf), plugin.package) as load:
            presets = load(f"configuration_{plugin.component}")
            config = presets.preset_config("tiny", None)
            model = cls(config)
            if hf.flattened:  # FlattenedPatchesBackbone knows the towers and the image path
                pass
            elif hf.encoder_output is not None:  # which encoder output the decoder reads, measured
                vision = getattr(config, "vision_config", None) or config.encoder  # VisionEncoderDecoderModel's
                hf = replace(hf, encoder_output=encoder_output(model.eval(), vision.image_size))
            elif qformer_layout(model):
                hf = replace(hf, qformer=True)
            elif top_level_layout(model):
                hf = replace(hf, top_level=True)
            elif hf.prepended:  # PrependedImageBackbone knows the towers and the image path
                pass
            elif hf.inner_config is not None:  # InnerVLMBackbone: the inner VLM's part and token types
                hf = settled(hf, model, config)
            # PositionMaskBackbone, EncoderStatesBackbone, EncoderFusionBackbone (nested), VQCodesBackbone,
            # LinearPatchBackbone, the cross-attention classes and PositionedPatchBackbone know the towers
            elif not any(
                (hf.masked, hf.cross, hf.nested, hf.vq, hf.linear_patches, hf.gated, hf.cross_tiles, hf.positioned)
            ):
                text, vision = towers(model)
                hf = replace(hf, text_tower=text, vision_tower=vision, token_types=token_types(model))
            if hf.grid:
                hf = replace(hf, extra_tokens=extra_tokens(model))
        try:
            hf = _run(plugin, hf)
        except NotThePattern as first:
            # some classes take images per sample, (batch, images, 3, H, W); if so, that layout runs
            if not str(first).startswith(TINY_FAILS):
                raise
            try:
                hf = _run(plugin, replace(hf, image_axis=True))
            except NotThePattern as second:
                raise NotThePattern(f"{first}; with images per sample, {second}") from None
    except NotThePattern as exc:
        building = str(exc).startswith((TINY_FAILS, FULL_FAILS))
        return replace(hf, reason=(building and defaults_fail(cls)) or str(exc), image_axis=False)
    except Exception as exc:  # the presets module itself, or the model on them
        failure = first_line(exc, with_type=True)
        reason = defaults_fail(cls) or f"the tiny preset derived from {hf.config_class} fails: {failure}"
        return replace(hf, reason=reason)
    return hf


def _run(plugin: PluginName, hf: HFClass) -> HFClass:
    from robovlms.scaffold.check import imported, run_backbone

    with imported(render(plugin, BACKBONE, hf), plugin.package) as load:
        grows = run_backbone(getattr(load(f"modeling_{plugin.component}"), f"Robo{hf.title}"))
    return replace(hf, fixed_tokens=not grows)


def render(plugin: PluginName, kind: ComponentKind, hf: HFClass | None) -> dict[str, str]:
    """Every file of the distribution, by its path inside it."""
    if kind is ACTION_HEAD:
        folder, values = "action_head", _head_values(plugin)
    elif hf is not None and hf.reason is None:
        folder, values = "backbone", _backbone_values(plugin, hf)
    else:
        folder, values = "backbone_todo", _todo_values(plugin, hf)
    values["todos"] = _render_one(f"{folder}/todos.md", values).strip()
    src = f"src/{plugin.package}"
    known = hf if hf is not None and hf.reason is None else None
    layout = {
        "pyproject.toml": "common/pyproject.toml",
        "README.md": "common/README.md",
        "CHANGELOG.md": "common/CHANGELOG.md",
        f"{src}/__init__.py": "common/__init__.py",
        f"{src}/plugin.py": "common/plugin.py",
        f"{src}/modeling_{plugin.component}.py": f"{folder}/modeling{_suffix(known, MODELING)}.py",
        f"tests/test_{plugin.component}.py": f"{folder}/test.py",
    }
    if kind is BACKBONE:
        suffix = _suffix(known, CONFIGURATION)
        layout[f"{src}/configuration_{plugin.component}.py"] = f"{folder}/configuration{suffix}.py"
    return {path: _render_one(template, values) for path, template in layout.items()}


#: a test of a known class's facts, in the tables that choose its templates and core class
FactTest = Callable[[HFClass], object]
#: the adapter's template (``modeling<suffix>.py``) of a known class, by the first test its facts pass; tests
#: and the rest are the pattern's
MODELING: tuple[tuple[FactTest, str], ...] = (
    # GIT's kind: the core class writes the prompt (the image first)
    (lambda hf: hf.prepended, "_prepended"),
    # Idefics's and Mllama's kinds: images through cross-attention layers under a mask of their own
    (lambda hf: hf.cross_tiles or hf.gated, "_gated"),
    # an encoder-decoder whose encoder reads only the image: BLIP's adapter on ImageEncoderDecoderBackbone
    (lambda hf: hf.encoder_output, "_image_encoder"),
    # a BLIP-like class (no placeholders in the prompt)
    (lambda hf: hf.cross, "_cross"),
    # a VQ-code class (Chameleon)
    (lambda hf: hf.vq, "_vq"),
    # a grid class (Qwen-VL's kin)
    (lambda hf: hf.grid, "_grid"),
)
#: the presets' template (``configuration<suffix>.py``) of a known class, by the first test its facts pass
CONFIGURATION: tuple[tuple[FactTest, str], ...] = (
    # GIT's kind: the language model's sizes at the config's top level
    (lambda hf: hf.prepended, "_prepended"),
    # VisionEncoderDecoderModel's config keeps its towers as encoder and decoder
    (lambda hf: not hf.nested and "encoder" in (hf.presets or {}).get("tiny", {}), "_towers"),
    # a raster grid class (Muse Glimmer) resizes every frame to one side instead of keeping a pixel budget
    (lambda hf: hf.grid and hf.raster, "_raster_grid"),
    # the patches' geometry at the config's top level (Fuyu)
    (lambda hf: hf.linear_patches, "_patches"),
    # Idefics's kind: the language model's sizes at the config's top level
    (lambda hf: hf.gated, "_gated"),
    # a vq_config and a vocabulary map (Chameleon)
    (lambda hf: hf.vq, "_vq"),
    # a pixel budget per preset (Qwen-VL's kin)
    (lambda hf: hf.grid, "_grid"),
)


def _suffix(hf: HFClass | None, table: tuple[tuple[FactTest, str], ...]) -> str:
    """The suffix of the first row of ``table`` whose test ``hf`` passes; none for stubs (``hf`` None)."""
    return "" if hf is None else next((suffix for test, suffix in table if test(hf)), "")


def _render_one(template: str, values: dict[str, str]) -> str:
    resource = files("robovlms.scaffold")
    for part in f"templates/{template}.tmpl".split("/"):
        resource = resource.joinpath(part)
    text = resource.read_text(encoding="utf-8")
    return Template(text).substitute(values)


def _write(rendered: dict[str, str], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for path, text in rendered.items():
            (staging / path).parent.mkdir(parents=True, exist_ok=True)
            (staging / path).write_text(text, encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# -- the values each template set is filled with ---------------------------------------------------


def _ranges() -> dict[str, str]:
    """Version ranges the plugin declares: the core from the version it was generated against (the
    templates use what that version provides) to the end of its minor series (a new 0.x may break
    plugins), and transformers from the version it was generated against up to its next major."""
    major, minor = (int(part) for part in __version__.split(".")[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    core = f"robovlms>={__version__},<{upper}"
    return {"core": core, "core_version": __version__, "plugin_api": PLUGIN_API_VERSION}


def _transformers_range() -> str:
    from importlib.metadata import version

    major, minor = (int(part) for part in version("transformers").split(".")[:2])
    return f"transformers>={major}.{minor},<{major + 1}"


def _common(plugin: PluginName, kind: ComponentKind, class_name: str, description: str) -> dict[str, str]:
    ranges = _ranges()
    dependencies = [ranges["core"], *([_transformers_range(), "pillow>=10"] if kind is BACKBONE else ["torch>=2.2"])]
    config = (
        {"model": {"backbone": plugin.component}, "vlm": {"preset": "tiny"}}
        if kind is BACKBONE
        else {"model": {"action_head": plugin.component}, "action_head": {"hidden_size": 256, "num_layers": 2}}
    )
    return {
        "distribution": plugin.distribution,
        "package": plugin.package,
        "component": plugin.component,
        "class_name": class_name,
        "title": class_name.removeprefix("Robo") if kind is BACKBONE else class_name,
        "label": kind.label,
        "group": kind.group,
        "hook": kind.hook,
        "suite": "BackboneConformance" if kind is BACKBONE else "HeadConformance",
        "description": description,
        "dependencies": "\n".join(f'    "{d}",' for d in dependencies),
        "config_json": json.dumps(config, indent=2),
        "core_version": ranges["core_version"],
        "plugin_api": ranges["plugin_api"],
    }


def _backbone_values(plugin: PluginName, hf: HFClass) -> dict[str, str]:
    assert hf.presets is not None and hf.processor_class is not None
    class_name = f"Robo{hf.title}"
    values = _common(plugin, BACKBONE, class_name, f"{hf.title} ({hf.name}) as a robovlms backbone.")
    cross_attention = hf.cross or hf.gated or hf.cross_tiles
    return {
        **values,
        "hf_class": hf.name,
        "config_class": hf.config_class,
        "processor_class": hf.processor_class,
        "processor_args": hf.processor_args,
        **_base(hf),
        "overrides": _overrides(hf),
        "encoder_output": hf.encoder_output or "",
        "more_tokens": "few == many  # a resampler: as many image tokens at any resolution"
        if hf.fixed_tokens
        else "few < many",
        "transformers_imports": ", ".join(sorted([hf.config_class, hf.processor_class])),
        # a config that nests the encoder's vision and text configs under encoder (T5Gemma 2)
        "nested": ".encoder" if hf.nested else f".{hf.inner_config}" if hf.inner_config else "",
        "vision_path": f', vision="{_sized(hf)}"' if _sized(hf) != "vision_config" else "",
        "sized": _sized(hf),
        # where the image placeholder's id is: the inner VLM's config (PI0's vlm_config)
        "image_config": f".{hf.inner_config}" if hf.inner_config else "",
        "resized": str(RESIZED),
        # what grows with the resolution: placeholders in the prompt, or (cross-attention) the image tokens
        "count": "robovlm.encode_images(torch.zeros(1, 3, *(robovlm.image_processor.size,) * 2)).shape[1]"
        if cross_attention
        else '(robovlm.tokenize(["pick up the red block"])["input_ids"] == robovlm.image_token_id).sum()',
        "tiny": _literal(hf.presets["tiny"], 1),
        "full": _literal(hf.presets["full"], 1),
        "budgets": _literal(hf.budgets, 0),
        "sides": _literal(hf.sides, 0),
        # the merge of a raster grid's encoder, as its vision config or (TargetSizesBackbone) its config says
        "merge_import": "target_sizes import target_sizes_merge" if hf.navit else "raster_grid import frame_merge",
        "merge_of": "target_sizes_merge(config)" if hf.navit else "frame_merge(config)",
        # the marker before each image's placeholders where the class finds images by it (RopeIndexBackbone)
        "vision_start": "{self.vision_start}" if hf.rope_index else "{self.image_start}" if hf.canvas else "",
        # CanvasRoPEBackbone's marker after each image, and text that is no marker after it
        "vision_end": "{self.image_end} " if hf.canvas else "",
        "marker_tokens": '\n    specials["<|vision_start|>"] = config.vision_start_token_id  # before each image'
        if hf.rope_index
        else '\n    specials.update({"<image_start>": config.image_start_id, "<image_end>": config.image_end_id})'
        if hf.canvas
        else "",
        "grid_attributes": ("" if hf.patch_layout == "merged" else f'    patch_layout = "{hf.patch_layout}"\n')
        + _extra_token_attributes(hf),
        "about": (
            f"transformers' `{hf.name}` as a robovlms backbone (`{class_name}`, backbone name "
            f"`{plugin.component}`), generated by `robovlms new-plugin`. "
            + (
                "Its images reach the text through cross-attention (fusion `cross_attention`): the prompt holds "
                "no image placeholders."
                if cross_attention
                else "Its image tokens take the place of `<image>` placeholders in the prompt (fusion `tokens`)."
            )
        ),
    }


def _sized(hf: HFClass) -> str:
    """The config that holds the resolution: T5Gemma 2's encoder's vision config, an inner VLM's (PI0's
    ``vlm_config``), a SAM that a second encoder reads (robovlms.scaffold.chained), else ``vision_config``."""
    if hf.nested:
        return "encoder.vision_config"
    return f"{hf.inner_config}.vision_config" if hf.inner_config else hf.sized


def _extra_token_attributes(hf: HFClass) -> str:
    """GridBackbone's counts of the tokens the encoder adds per row and per image, where it adds any."""
    names = ("row_end_tokens", "image_end_tokens")
    return "".join(f"    {name} = {count}\n" for name, count in zip(names, hf.extra_tokens, strict=True) if count)


#: the core class an adapter subclasses, by the first test its facts pass: (test, module under robovlms.model,
#: class). A grid class's own kinds come first: settle may also find its token types (or a top-level layout),
#: which its grid class covers; so does an encoder-decoder whose encoder reads only the image, by its format.
BASES: tuple[tuple[FactTest, str, str], ...] = (
    (lambda hf: hf.canvas, "canvas_rope", "CanvasRoPEBackbone"),
    (lambda hf: hf.navit, "target_sizes", "TargetSizesBackbone"),
    (lambda hf: hf.ordinal_rope, "ordinal_rope", "OrdinalRoPEBackbone"),
    (lambda hf: hf.deepstack and hf.rope_index, "rope_index_deepstack", "RopeIndexDeepStackBackbone"),
    (lambda hf: hf.patch_grid, "patch_grid", "PatchGridBackbone"),
    (lambda hf: hf.blocks, "raster_grid", "TokenGridBackbone"),
    (lambda hf: hf.raster, "raster_grid", "RasterGridBackbone"),
    (lambda hf: hf.deepstack, "deepstack", "DeepStackBackbone"),
    (lambda hf: hf.rope_index, "rope_index", "RopeIndexBackbone"),
    (lambda hf: hf.mrope, "mrope", "MRoPEBackbone"),
    (lambda hf: hf.grid, "grid", "GridBackbone"),
    (lambda hf: hf.flattened and hf.cross, "flattened_patches", "FlattenedPatchesBackbone"),
    (lambda hf: hf.encoder_output, "image_encoder_decoder", "ImageEncoderDecoderBackbone"),
    (lambda hf: hf.inner_config is not None, "inner_vlm", "InnerVLMBackbone"),
    (lambda hf: hf.cross_tiles, "cross_attention", "TiledCrossAttentionBackbone"),
    (lambda hf: hf.gated, "cross_attention", "CrossAttentionBackbone"),
    (lambda hf: hf.token_types is not None, "token_types", "TokenTypeBackbone"),
    (lambda hf: hf.tiles and hf.layer_map, "layer_map", "LayerMapBackbone"),
    (lambda hf: hf.tiles, "tiles", "TiledBackbone"),
    (lambda hf: hf.deepstack_tiles, "deepstack_tiles", "TiledDeepStackBackbone"),
    (lambda hf: hf.qformer and hf.instructed, "qformer", "InstructedQFormerBackbone"),
    (lambda hf: hf.qformer, "qformer", "QFormerBackbone"),
    (lambda hf: hf.masked and hf.flattened, "flattened_patches", "FlattenedPositionMaskBackbone"),
    (lambda hf: hf.masked, "position_mask", "PositionMaskBackbone"),
    (lambda hf: hf.top_level, "top_level", "TopLevelBackbone"),
    (lambda hf: hf.encoder, "encoder_fusion", "EncoderFusionBackbone"),
    (lambda hf: hf.vq, "vq_codes", "VQCodesBackbone"),
    (lambda hf: hf.linear_patches, "linear_patches", "LinearPatchBackbone"),
    (lambda hf: hf.prepended, "prepended", "PrependedImageBackbone"),
    (lambda hf: hf.positioned, "positioned_patches", "PositionedPatchBackbone"),
    (lambda hf: "high_res_pixel_values" in hf.image_inputs, "high_res", "HighResBackbone"),
    (lambda hf: hf.padded, "padded", "PaddedSquareBackbone"),
)


def _base(hf: HFClass) -> dict[str, str]:
    """The core class the adapter subclasses: the one that covers how the class's images and attention work
    (:data:`BASES`'s first match), else :class:`robovlms.BaseRoboVLM`."""
    for test, module, base in BASES:
        if test(hf):
            return {"base_module": f"robovlms.model.{module}", "base": base}
    return {"base_module": "robovlms", "base": "BaseRoboVLM"}


def _overrides(hf: HFClass) -> str:
    """The adapter's methods where the class departs from the core's defaults: tower names, image inputs."""
    parts = [
        _render_one("backbone/parts/tower.py", {"attribute": attribute, "part": part, "hf_class": hf.name})
        for attribute, part, default in (
            ("text_tower", hf.text_tower, "language_model"),
            ("vision_tower", hf.vision_tower, "vision_tower"),
        )
        if part != default
    ]
    if hf.inner_config is not None:  # InnerVLMBackbone: the inner VLM's towers are found under it
        values = {"inner_config": hf.inner_config, "inner_vlm": str(hf.inner_vlm), "hf_class": hf.name}
        parts = [_render_one("backbone/parts/inner_vlm.py", values)]
    if hf.token_types is not None:
        parts.append(_render_one("backbone/parts/token_types.py", {"token_types": hf.token_types, "hf_class": hf.name}))
    core_path = (hf.qformer, hf.masked, hf.cross, hf.top_level, hf.vq, hf.linear_patches, hf.gated, hf.cross_tiles)
    if any(core_path) or hf.prepended:  # the core class's path
        return ""
    # PaddedSquareBackbone's (with the class's own towers), GridBackbone's, TiledBackbone's, InnerVLMBackbone's or
    # TiledDeepStackBackbone's image path
    if hf.padded or hf.grid or hf.tiles or hf.inner_config or hf.deepstack_tiles:
        return "".join(parts)
    if hf.image_inputs or hf.image_axis:
        pixels = "pixel_values.unsqueeze(1)  # one image per sample" if hf.image_axis else "pixel_values"
        entries = "".join(f'\n            "{name}": {source},' for name, source in hf.image_inputs.items())
        values = {"pixels": pixels, "entries": entries, "hf_class": hf.name}
        parts.append(_render_one("backbone/parts/image_inputs.py", values))
    return "".join(parts)


def _todo_values(plugin: PluginName, hf: HFClass | None) -> dict[str, str]:
    class_name = f"Robo{hf.title if hf else plugin.title}"
    why = (
        f"robovlms does not know the pattern of {hf.name}: {(hf.reason or '').rstrip('.')}."
        if hf is not None
        else "No transformers class was given (--hf-class)."
    )
    why = textwrap.fill(why.replace('"""', "'''").replace("\\", "/"), width=100)
    return {
        **_common(plugin, BACKBONE, class_name, f"{class_name.removeprefix('Robo')} as a robovlms backbone."),
        "why": why,
        "model_class": hf.name if hf else "PreTrainedModel",
        "model_class_todo": "" if hf else "  # TODO(model class): the transformers VLM class this backbone wraps",
        "about": f"A robovlms backbone (`{class_name}`, backbone name `{plugin.component}`), generated by "
        "`robovlms new-plugin` with stubs to fill in.",
    }


def _head_values(plugin: PluginName) -> dict[str, str]:
    title = plugin.title
    class_name = title if title.lower().endswith("head") else f"{title}Head"
    return {
        **_common(plugin, ACTION_HEAD, class_name, f"The {plugin.component} action head for robovlms."),
        "about": f"An action head for robovlms (`{class_name}`, head name `{plugin.component}`), generated by "
        "`robovlms new-plugin`.",
    }


def _literal(value: Any, level: int) -> str:
    """``value`` as Python source, one dict entry per line, indented for ``level`` levels of nesting."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = "    " * (level + 1)
        entries = "".join(f"{pad}{_literal(k, level + 1)}: {_literal(v, level + 1)},\n" for k, v in value.items())
        return "{\n" + entries + "    " * level + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v, level) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)
