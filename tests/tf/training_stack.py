"""A training setup for the TensorFlow tests: the tiny model with a training recipe, and an
AWS stack that trains it (prod-aws plus a training pool and tfplat:training), written into the
session's TFPLAT_ROOT so the planner renders real JobSets for it."""

from __future__ import annotations

from pathlib import Path

from conftest import REPO, TINY_MODEL

IMAGE = "registry.example/acme/tiny-train:1.0.0@sha256:" + "ab" * 32
STACK = "traintest"

TRAINING = f"""\
training:
  image: {IMAGE}
  command: [python, tests/tf/train_tiny.py]
  strategy: multi-worker-mirrored
  workers: 2
  accelerator: {{kind: gpu, type: nvidia-l4, count: 1}}
  resources: {{cpu: "2", memory: 4Gi}}
  data: [s3://acme-datasets/tiny/train/]
  checkpoint_every_steps: 40
  max_restarts: 3
"""

POOL = """\
    train-l4:
      role: training
      accelerator: {type: nvidia-l4, count: 1}
      min_nodes: 0
      max_nodes: 2
"""

CONFIG = """\
  tfplat:training:
    enabled: true
    teams:
      platform-team: {namespace: train-platform}
    models: [tiny]
"""


def write(root: Path) -> str:
    """models/tiny.yaml with training, stacks/Pulumi.traintest.yaml; returns the stack name."""
    (root / "models" / "tiny.yaml").write_text(TINY_MODEL + TRAINING)
    text = (REPO / "stacks" / "Pulumi.prod-aws.yaml").read_text()
    text = text.replace("  tfplat:serving:\n", POOL + "  tfplat:serving:\n", 1)
    text = text.replace("  tfplat:edge:\n", CONFIG + "  tfplat:edge:\n", 1)
    (root / "stacks" / f"Pulumi.{STACK}.yaml").write_text(text)
    return STACK
