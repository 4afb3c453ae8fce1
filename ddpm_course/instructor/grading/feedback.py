"""An nbgrader feedback preprocessor that keeps hidden tests out of the HTML students get."""
from nbgrader.preprocessors import ClearHiddenTests


class HideHiddenTests(ClearHiddenTests):
    """Remove the hidden-test region of each graded cell, and cut error tracebacks down to
    their last line (`CheckFailure: message`), since a traceback quotes the failing source line."""

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output['ename']}: {output['evalue']}"]
        return cell, resources
