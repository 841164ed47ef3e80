"""BLIP-2-style backbones: a Q-Former's query tokens in front of the text, the parts at the model's top level.

BLIP-2 encodes an image, lets a fixed number of learned queries read it through a Q-Former, and
projects them into the language model's embeddings, where they take the place of as many
``image_token_id`` placeholders; so far the common pattern. Its layout is not: the vision model,
the Q-Former, the projection and the language model (with its LM head) sit at the top level of the
transformers model, with no ``model.model``, and its own forward returns logits, with the final
hidden states among the language model's outputs. This class reads them there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from robovlms.config import VLMConfig
from robovlms.errors import CheckpointError, PluginError, first_line
from robovlms.model.backbone import BaseRoboVLM
from robovlms.model.tokenization import local_tokenizer


class QFormerBackbone(BaseRoboVLM):
    """A ``tokens``-fusion backbone over BLIP-2's layout (``vision_model``, ``qformer``, ``language_model``)."""

    @property
    def text_tower(self) -> nn.Module:
        """The decoder-only language model without its LM head; an encoder-decoder one (Flan-T5) is no text tower."""
        if not getattr(self.model.config, "use_decoder_only_language_model", True):
            raise NotImplementedError(
                f"{type(self.model).__name__}'s language model is an encoder-decoder; robovlms runs a decoder-only "
                "one over inputs_embeds, so define text_tower and forward_text for it"
            )
        return self.model.language_model.base_model

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.vision_model

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The Q-Former's query outputs, projected to the language model's width."""
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output

    def reference_forward(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """The language model's final hidden states from the VLM's own forward."""
        inputs = self.reference_inputs(pixel_values, input_ids, attention_mask)
        try:
            out = self.model(**inputs, output_hidden_states=True)
        except Exception as exc:  # whatever the VLM raises for inputs it does not take
            raise PluginError(
                f"backbone {self.name!r}: {type(self.model).__name__}'s own forward failed "
                f"({first_line(exc, with_type=True)}); override reference_inputs"
            ) from None
        hidden: Any = out.language_model_outputs.hidden_states
        return hidden[-1]


class InstructedQFormerBackbone(QFormerBackbone):
    """InstructBLIP's layout: BLIP-2's, with a Q-Former that reads the instruction beside the image.

    Its image tokens depend on the prompt (``qformer_input_ids``, in a vocabulary of the Q-Former's own),
    so :meth:`embed_prompt` encodes each image with its row's instruction, re-tokenized for the Q-Former
    from the prompt; :meth:`model_encode_images`, which sees the pixels only (the VLA's window assembly,
    a ``robovlms_encode_images`` hook's peers), gives the tokens for an empty instruction. InstructBLIP-Video
    takes a clip per sample: one frame is a clip of one.
    """

    #: the subfolder of a checkpoint that holds the Q-Former's tokenizer (as InstructBlipProcessor saves it)
    qformer_tokenizer_folder: ClassVar[str] = "qformer_tokenizer"

    def __init__(self, model: nn.Module, tokenizer: Any, processor: Any, config: VLMConfig) -> None:
        super().__init__(model, tokenizer, processor, config)
        self.qformer_tokenizer = self.load_qformer_tokenizer(config)

    def load_qformer_tokenizer(self, config: VLMConfig) -> Any:
        """The checkpoint's Q-Former tokenizer (its ``qformer_tokenizer`` folder); for a preset, one built locally."""
        if config.model_name is None:
            qformer = self.model.config.qformer_config
            pad = qformer.pad_token_id if qformer.pad_token_id is not None else 0
            return local_tokenizer(qformer.vocab_size, {"[PAD]": pad}, pad_token="[PAD]")
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(config.model_name, subfolder=self.qformer_tokenizer_folder)
        except Exception as exc:  # missing files surface as OSError, ValueError or KeyError
            raise CheckpointError(
                f"vlm.model_name {config.model_name!r}: cannot load the Q-Former's tokenizer from its "
                f"{self.qformer_tokenizer_folder}/ folder ({first_line(exc)})"
            ) from None

    def save_pretrained(self, directory: str | Path) -> None:
        """The checkpoint, with the Q-Former's tokenizer in its own folder."""
        super().save_pretrained(directory)
        self.qformer_tokenizer.save_pretrained(str(Path(directory) / self.qformer_tokenizer_folder))

    def instructions(self, input_ids: torch.Tensor) -> list[str]:
        """Each prompt's text, without its special tokens and image placeholders."""
        return [text.strip() for text in self.tokenizer.batch_decode(input_ids, skip_special_tokens=True)]

    def qformer_inputs(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """``qformer_input_ids`` and ``qformer_attention_mask`` for the prompts ``input_ids``."""
        return self.qformer_encode(self.instructions(input_ids), input_ids.device)

    def qformer_encode(self, instructions: list[str], device: torch.device) -> dict[str, torch.Tensor]:
        """``qformer_input_ids`` and ``qformer_attention_mask`` for instructions given as text, on ``device``."""
        encoded = self.qformer_tokenizer(instructions, padding=True, return_tensors="pt")
        ids, mask = encoded["input_ids"], encoded["attention_mask"]
        if ids.shape[1] == 0:  # nothing to read (a tokenizer without [CLS]): one masked pad token
            ids = ids.new_full((ids.shape[0], 1), self.qformer_tokenizer.pad_token_id)
            mask = torch.zeros_like(ids)
        return {"qformer_input_ids": ids.to(device), "qformer_attention_mask": mask.to(device)}

    @property
    def image_token_id(self) -> int | None:
        """The placeholder of the Q-Former's tokens: ``video_token_id`` for a class that takes clips."""
        config = self.model.config
        token: int | None = config.video_token_id if self._video else config.image_token_id
        return token

    def _pixels(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """One frame as a clip of one for a class that takes clips (``get_video_features``)."""
        return pixel_values.unsqueeze(1) if self._video else pixel_values

    @property
    def _video(self) -> bool:
        return callable(getattr(self.model, "get_video_features", None))

    def image_features(self, pixel_values: torch.Tensor, qformer: dict[str, torch.Tensor]) -> torch.Tensor:
        """The Q-Former's query outputs for images and their instructions, projected to the text's width."""
        features = self.model.get_video_features if self._video else self.model.get_image_features
        return features(pixel_values=self._pixels(pixel_values), **qformer).pooler_output

    def model_encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The image tokens for an empty instruction (``encode_images`` sees no prompt)."""
        return self.image_features(pixel_values, self.qformer_encode([""] * pixel_values.shape[0], pixel_values.device))

    def embed_prompt(self, pixel_values: torch.Tensor, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt embeddings with each image encoded under its own row's instruction."""
        image_tokens = self.image_features(pixel_values, self.qformer_inputs(input_ids))
        embeds = self.place_images(self.embed_text(input_ids), input_ids, image_tokens)
        return embeds, image_tokens

    def reference_inputs(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, Any]:
        """The VLM's own inputs, with the same Q-Former ids as :meth:`embed_prompt`'s."""
        return {
            "input_ids": input_ids,
            "pixel_values": self._pixels(pixel_values),
            "attention_mask": attention_mask,
            **self.qformer_inputs(input_ids),
        }
