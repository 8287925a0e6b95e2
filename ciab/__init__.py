"""Claude In A Box: orchestration and test helpers (tasks.py and noxfile.py build on these)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_NAME = "claude-in-a-box"
