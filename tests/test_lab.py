"""`make lab`: the JupyterLab the course's venv serves to students."""
from jupyter_core.paths import jupyter_config_path
from jupyter_server.extension.config import ExtensionConfigManager
from jupyterlab_server.config import get_static_page_config

EXCHANGE_PLUGINS = ("@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:course-list")


def test_nbgrader_exchange_panels_are_off_and_the_instructor_tools_on():
    """Are nbgrader's Assignment List and Course List (which only error without an exchange) switched off,
    while the Formgrader, Create Assignment and Validate stay?"""
    disabled = get_static_page_config(level="all")["disabledExtensions"]
    assert all(disabled.get(plugin) for plugin in EXCHANGE_PLUGINS), disabled
    assert not disabled.get("@jupyter/nbgrader:create-assignment") and not disabled.get("@jupyter/nbgrader:formgrader")
    server = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    assert {name: on for name, on in server.items() if name.startswith("nbgrader.")} == {
        "nbgrader.server_extensions.formgrader": True, "nbgrader.server_extensions.validate_assignment": True,
        "nbgrader.server_extensions.assignment_list": False, "nbgrader.server_extensions.course_list": False}
