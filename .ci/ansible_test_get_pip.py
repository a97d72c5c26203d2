# Copyright: Contributors to the partnercenter.national_cloud collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Write the offline stand-in for ansible-test's pip bootstrap script, unless one is already there.

ansible-test bootstraps pip into each sanity-test virtual environment with a script it downloads from
ci-files.testing.ansible.com and caches at ~/.ansible/test/cache/get_pip_<version>.py, where <version>
is the pip version pinned by the installed ansible-core (get_venv_packages() in
ansible_test/_internal/python_requirements.py). That host is unreachable from our build machines, so
this writes a stand-in at the cache path (see shared/reference/build-notes.md).

ansible-test runs the cached script with the new environment's Python and pip-style arguments such as
`--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel`.

Run with the Python of the environment that has ansible-core installed (make sanity does).
"""

from __future__ import annotations

import os
import platform
import sys

STUB = '''\
"""Offline stand-in for ansible-test's get-pip bootstrap script.

Written by partnercenter.national_cloud's .ci/ansible_test_get_pip.py (make sanity), because the
original is downloaded from a host that is unreachable here. Delete this file to get the original back.
"""

import subprocess
import sys

# ensurepip runs in a subprocess: run in-process it sets PIP_CONFIG_FILE=/dev/null in os.environ,
# which would hide the machine's pip configuration (index, CA certificate) from the install below.
RC = subprocess.call([sys.executable, "-m", "ensurepip", "--upgrade"])
if RC == 0:
    ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    RC = subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade"] + ARGS)
sys.exit(RC)
'''


def pinned_pip_version():
    """Return the pip version the installed ansible-test bootstraps, as ansible-test computes it."""
    # pylint: disable-next=import-outside-toplevel
    from ansible_test._internal.python_requirements import get_venv_packages

    class _Python:  # the only attribute get_venv_packages() reads
        version = '%d.%d' % sys.version_info[:2]

    return get_venv_packages(_Python())['pip']


def main():
    """Write the stand-in if absent and print where it is."""
    try:
        version = pinned_pip_version()
    except Exception as ex:  # pylint: disable=broad-exception-caught
        sys.exit('error: cannot find the pip version pinned by ansible-test (%s: %s); '
                 'check ansible_test/_internal/python_requirements.py' % (type(ex).__name__, ex))

    path = os.path.expanduser('~/.ansible/test/cache/get_pip_%s.py' % version.replace('.', '_'))
    if os.path.exists(path):
        print('ansible-test pip %s bootstrap script already present: %s' % (version, path))
        return

    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp_path = '%s.%d.tmp' % (path, os.getpid())
    with open(temp_path, 'w', encoding='utf-8') as stub:
        stub.write(STUB)
    os.replace(temp_path, path)  # atomic: concurrent runs never see a partial file
    print('wrote the offline ansible-test pip %s bootstrap stand-in (Python %s): %s'
          % (version, platform.python_version(), path))


if __name__ == '__main__':
    main()
