"""The kit's static figures show as one picture each in a notebook, with or without %matplotlib inline."""
import nbformat
import pytest
from nbclient import NotebookClient

CELL = """
from colearn_nb import Result, Results, plot_results, plot_votes
results = Results([Result(True, [True, True], [0.5, 0.6], [0.4, 0.5]),
                   Result(False, [None, False], [0.4, 0.5], [0.3, 0.4], [], 0)])
plot_votes(results)
plot_results(results, 2, score_name="accuracy")
"""


@pytest.mark.parametrize("magic", ["", "%matplotlib inline\n"])
def test_figures_display_once_as_png(magic):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(magic + CELL)])
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) == 1, [o.get("data", o).keys() for o in outputs]
    assert pictures[0]["data"]["image/png"][:4] == "iVBO", "base64 of a PNG"
