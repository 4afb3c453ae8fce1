"""The executor: where a student's notebook runs while it is graded, holding nothing secret.

Each graded notebook gets a kernel of its own, started by `SandboxedKernelManager` in the strongest
isolation this machine offers (README, "Security", says what each one protects):

- `bwrap`: bubblewrap's namespaces. The kernel sees the Python installation read-only, the executor
  tree (the package as the student bundle ships it, less anything that computes an answer: see
  roles.py's `executor` audience) read-only, a fresh /tmp and an empty working folder, and nothing
  else of the file system: no course, no reference, no hidden check, no gradebook. No network (its
  own empty network namespace), its own process tree, every capability dropped.
- `uid` (root, where namespaces are refused, as in a Docker container): the kernel runs as an
  unprivileged user (nobody) that can read only what others may read; the course must sit in a folder
  that others cannot enter (grading refuses to start otherwise). The network stays reachable.
- `none` (a normal user without unprivileged namespaces): a process of its own, as the same user: the
  checks and their verdicts stay out of its reach, but files the user can read, it can read too.

In all three the kernel talks to nbclient over Unix sockets in a private runtime folder (transport
"ipc"), is interrupted by a message rather than a signal (a signal cannot cross into its namespace),
and keeps the memory limit and grading environment of limits.LimitedKernelManager.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from traitlets import Unicode

from ddpm_course.instructor.grading.limits import LimitedKernelManager

ISOLATIONS = ("bwrap", "uid", "none")
NOBODY = 65534
SANDBOX_HOME = "/tmp"
WORK = "/home/student/work"  # the kernel's working folder inside the bubblewrap sandbox
TREE = "/opt/ddpm-executor"  # the executor tree inside the bubblewrap sandbox
# The environment variables a grading kernel gets (and LC_*, DDPM_COURSE_*), besides the grading environment.
PASSED_ON = {"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MPLBACKEND"}
SYSTEM_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd", "group",
              "alternatives", "fonts")


def bwrap_base() -> list[str]:
    """bubblewrap with the system's programs and libraries and the Python that grades, read-only."""
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in SYSTEM_ETC:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parent.parent)}
    prefixes |= {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib", "platstdlib")}
    for prefix in sorted(p for p in prefixes if p and not p.startswith("/usr/") and Path(p).exists()):
        if not any(prefix.startswith(other + "/") for other in prefixes if other and other != prefix):
            args += ["--ro-bind", prefix, prefix]
    return args


@functools.cache
def isolation() -> str:
    """The strongest isolation that works here: DDPM_SANDBOX (bwrap, uid or none) chooses one, for tests."""
    chosen = os.environ.get("DDPM_SANDBOX", "")
    if chosen in ISOLATIONS:
        return chosen
    if shutil.which("bwrap"):
        probe = subprocess.run([*bwrap_base(), sys.executable, "-c", "pass"], capture_output=True)
        if probe.returncode == 0:
            return "bwrap"
    if os.geteuid() == 0 and shutil.which("setpriv"):
        return "uid"
    return "none"


def give_to_kernel(path: str) -> None:
    """Make a file or folder of the runtime the kernel's: as nobody's own (uid), or readable by it (the others)."""
    if isolation() == "uid":
        os.chown(path, NOBODY, NOBODY)
        os.chmod(path, 0o700 if os.path.isdir(path) else 0o600)
    else:
        os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)


def others_can_reach(path: Path) -> bool:
    """Whether a user who owns nothing (nobody) can walk to `path` and read it."""
    path = path.resolve()
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat().st_mode
        if folder.is_dir() and not mode & 0o001:
            return False
    return bool(path.stat().st_mode & 0o004)


# Run by the kernel as it starts, before the notebook's first cell: the first op on the meta device (where the checks
# run a student's module as if on a GPU) imports torch's meta registrations and sympy, seconds on a loaded machine,
# which would otherwise be charged to the graded cell that first moves a module there, against its time limit. No
# name is left in the notebook's namespace: a statement, not an expression, so that not even `_` is set.
WARM_UP = "--IPKernelApp.exec_lines=if __import__('torch').empty(1, device='meta').add(1) is None: pass"


class SandboxedKernelManager(LimitedKernelManager):
    """A LimitedKernelManager whose kernel runs in the executor sandbox, on the executor tree."""

    tree = Unicode("", help="the executor tree: the package folder the kernel may import").tag(config=True)
    runtime = Unicode("", help="a private folder for the kernel's sockets and the checker's").tag(config=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not self.runtime:
            self.runtime = tempfile.mkdtemp(prefix="ddpm-executor-")
        self.transport = "ipc"
        self.ip = os.path.join(self.runtime, "kernel")
        self.connection_file = os.path.join(self.runtime, "kernel.json")
        self.work = tempfile.mkdtemp(prefix="work-", dir=self.runtime)
        for folder in (self.runtime, self.work):
            give_to_kernel(folder)

    def write_connection_file(self, **kwargs):
        result = super().write_connection_file(**kwargs)
        give_to_kernel(self.connection_file)
        return result

    async def start_kernel(self, **kwargs) -> None:
        # only what a kernel needs: a grader's tokens, keys and paths stay out of the student's reach
        env = {name: value for name, value in kwargs.get("env", os.environ).items()
               if name in PASSED_ON or name.startswith(("LC_", "DDPM_COURSE_"))}
        env |= {"PYTHONPATH": self._inside(self.tree), "HOME": SANDBOX_HOME if isolation() == "bwrap" else self.work,
                "MPLCONFIGDIR": f"{SANDBOX_HOME if isolation() == 'bwrap' else self.work}/.matplotlib",
                "PYTHONNOUSERSITE": "1"}
        kwargs["env"] = env
        kwargs["cwd"] = self.work
        await super().start_kernel(**kwargs)
        self.kernel_spec.interrupt_mode = "message"  # a signal would not reach it inside its namespace

    def _inside(self, path: str) -> str:
        return TREE if isolation() == "bwrap" else path

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd([*(extra_arguments or []), WARM_UP])
        kind = isolation()
        if kind == "bwrap":
            return [*bwrap_base(), "--ro-bind", self.tree, TREE, "--bind", self.runtime, self.runtime,
                    "--bind", self.work, WORK, "--chdir", WORK, "--setenv", "HOME", SANDBOX_HOME,
                    # its parent is out of sight in its own process tree: 1 tells ipykernel not to watch for it
                    "--setenv", "JPY_PARENT_PID", "1", *cmd]
        if kind == "uid":
            return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs",
                    "--inh-caps=-all", "--bounding-set=-all", *cmd]
        return cmd


def build_tree(lesson: str, into: Path) -> Path:
    """Write the executor tree of `lesson` into `into` (readable by all, writable by none but its owner): the
    package files of roles.py's executor audience."""
    from ddpm_course.instructor import course, roles  # here: the kernel manager alone must stay light

    for path in roles.package_files(lesson, roles.EXECUTOR):
        target = into / path.relative_to(course.ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    for folder in [into, *into.rglob("*")]:
        os.chmod(folder, 0o755 if folder.is_dir() else 0o644)
    return into
