"""Code written for the original colearn tutorial runs on colearn_nb with only its import lines changed."""
import os
import re
import subprocess
import sys
from pathlib import Path

TUTORIAL = Path(__file__).parent / "seed_tutorial" / "pytorch_mnist_tutorial.py"
IMPORT_CHANGES = {
    "from torchvision import transforms, datasets":
        "from torchvision import transforms\nfrom colearn_nb import datasets",
    "from torchsummary import summary": "from torchinfo import summary",
}


def port_to_colearn_nb(source: str) -> str:
    """Change import lines only: colearn's modules become colearn_nb; everything else stays."""
    lines = []
    for line in source.splitlines():
        if line.startswith(("import ", "from ")):
            line = IMPORT_CHANGES.get(line, re.sub(r"^from colearn(_pytorch)?(\.\w+)+ import",
                                                   "from colearn_nb import", line))
        lines.append(line)
    return "\n".join(lines) + "\n"


def non_import_lines(source: str) -> list:
    return [line for line in source.splitlines() if not line.startswith(("import ", "from "))]


def test_port_changes_import_lines_only():
    original = TUTORIAL.read_text()
    ported = port_to_colearn_nb(original)
    assert non_import_lines(ported) == non_import_lines(original)
    assert "colearn." not in ported and "colearn_pytorch" not in ported


def test_tutorial_runs_on_the_offline_digits(tmp_path):
    script = tmp_path / "tutorial.py"
    script.write_text(port_to_colearn_nb(TUTORIAL.read_text()))
    env = dict(os.environ, MPLBACKEND="Agg", COLEARN_NB_OFFLINE="1", PYTORCH_DATA_DIR=str(tmp_path / "data"))
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Total params: 431,080" in run.stdout, "torchinfo's summary of the tutorial's Net"
    assert run.stdout.count("Round ") == 20
    accuracy = float(re.search(r"final mean test accuracy: ([\d.]+)", run.stdout).group(1))
    assert accuracy > 0.85, run.stdout[-2000:]
