"""Finding and running the lrsp binary."""

import os
import shutil
import subprocess


class LrspError(ValueError):
    """The lrsp binary refused the data or the settings, or failed.

    The message is the binary's own (it names the flag, file, line or
    user at fault). It is a ValueError because the cause is nearly always
    bad input or a bad parameter.
    """


class LrspNotFoundError(FileNotFoundError):
    """No lrsp binary was found through LRSP_BIN or PATH."""


def find_binary():
    """Returns the path of the lrsp binary: the LRSP_BIN environment
    variable when it is set, else the first "lrsp" on PATH."""
    env = os.environ.get("LRSP_BIN")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise LrspNotFoundError(
            f"lrsp: LRSP_BIN={env!r} is not an executable file; set LRSP_BIN to the lrsp binary "
            "(go build -o lrsp ./cmd/lrsp) or unset it to search PATH")
    found = shutil.which("lrsp")
    if found:
        return found
    raise LrspNotFoundError(
        "lrsp: the lrsp binary was not found: LRSP_BIN is not set and no lrsp is on PATH; "
        "build it with `go build -o lrsp ./cmd/lrsp` (or `go install ./cmd/lrsp`) and set "
        "LRSP_BIN to its path or put it on PATH")


def run(args, what):
    """Runs the lrsp binary with args and returns its standard output;
    raises LrspError with the binary's message when it fails."""
    binary = find_binary()
    proc = subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        lines = [ln for ln in msg.splitlines() if ln.startswith("lrsp:") and "warning:" not in ln]
        raise LrspError(f"{what}: {lines[-1] if lines else msg or 'exit status %d' % proc.returncode}")
    return proc.stdout.decode(errors="replace")
