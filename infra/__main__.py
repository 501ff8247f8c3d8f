"""Entry point of the Pulumi program (Pulumi.yaml: main: infra/)."""

from pathlib import Path
import sys

# Pulumi runs this file by path; make the repository root importable as well.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.program import main

main()
