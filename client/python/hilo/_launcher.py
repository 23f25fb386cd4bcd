"""The `hilorun` and `hilo-status` commands of a pip installation: they run the binaries the
wheel ships in hilo/bin (setup.py), so that `pip uninstall hilo` removes them with the package."""
import os
import sys


def _run(name):
    binary = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bin", name)
    if not os.path.exists(binary):
        sys.exit("%s: %s is missing: this hilo was not installed by pip (tools/install.sh puts "
                 "%s in /usr/local/bin)" % (name, binary, name))
    os.execv(binary, [binary] + sys.argv[1:])


def hilorun():
    _run("hilorun")


def hilo_status():
    _run("hilo-status")
