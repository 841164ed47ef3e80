"""Run under torchrun by test_distributed.py: train, then write this rank's weights for comparison."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from safetensors.torch import save_file

from robovlms import load_config
from robovlms.training.trainer import Trainer

config_path, output = sys.argv[1], Path(sys.argv[2])
trainer = Trainer(load_config(config_path), output, resume="--resume" in sys.argv[3:], progress=False)
trainer.run()
if trainer.sharded:  # FSDP ranks hold shards; the run folder holds the gathered weights
    sys.exit(0)
state = {
    k: v.detach().clone().contiguous() for k, v in trainer.vla.state_dict().items() if not k.startswith("backbone.")
}
state.update({k: v.detach().clone().contiguous() for k, v in trainer.vla.backbone.named_parameters()})
save_file(state, str(output.parent / f"{output.name}-rank{os.environ.get('RANK', '0')}.safetensors"))
