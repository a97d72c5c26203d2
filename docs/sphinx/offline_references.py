# Copyright: Contributors to the partnercenter.national_cloud collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sphinx extension for `make docs`: resolve references to the Ansible docsite without a network.

The docs site that `antsibull-docs sphinx-init` sets up uses intersphinx to resolve references to the
Ansible docsite (``ansible_configuration_settings``, ``common_return_values``, ``M(ansible.builtin.copy)``
and the like). intersphinx downloads its inventories when the build starts. The build machines reach no
host but the Python package index, the download fails, and every such reference becomes a warning, which
fails a build that treats warnings as errors.

This extension turns intersphinx's inventory list off and resolves those references itself, to the
same URLs on docs.ansible.com:

- the docsite labels that antsibull-docs' templates use (``LABELS`` below; add one here if a new
  antsibull-docs release uses another);
- plugins, options and return values of other collections (``ansible_collections.<ns>.<name>.<plugin>_<type>``
  labels), through the docsite's URL scheme.

References to the collections given in ``offline_references_local_collections`` are never sent to the
docsite: they must resolve inside this site, so a reference to a module that does not exist stays a
warning (and fails the build).
"""

from __future__ import annotations

import re

from docutils import nodes
from sphinx.util import logging

ANSIBLE_DOCSITE = 'https://docs.ansible.com/projects/ansible/devel/'

# Labels of the Ansible docsite that antsibull-docs' templates refer to: label -> page (and anchor).
LABELS = {
    'action_plugins': 'plugins/action.html',
    'ansible_configuration_settings': 'reference_appendices/config.html',
    'callback_plugins': 'plugins/callback.html',
    'collections_keyword': 'collections_guide/collections_using_playbooks.html#using-collections-in-playbooks',
    'common_return_values': 'reference_appendices/common_return_values.html',
    'list_of_callback_plugins': 'plugins/callback.html',
    'list_of_collections': 'collections/index.html',
}

# antsibull_docs.rst_labels: ansible_collections.<ns>.<name>.<plugin>_<type>[__<anchor>][_requirements]
PLUGIN_LABEL = re.compile(
    r'^ansible_collections\.(?P<namespace>[a-z0-9_]+)\.(?P<name>[a-z0-9_]+)\.(?P<plugin>[a-z0-9_.]+?)'
    r'_(?P<type>[a-z]+)(?:__(?P<anchor>.+)|_requirements.*)?$')
# Collection-level labels (plugin indexes, communication, changelog) -> the collection's index page.
COLLECTION_LABEL = re.compile(
    r'^(?:plugin_index_for_|communication_for_|changelog_for_|changelog_section_for_|[a-z]+_plugins_in_)'
    r'(?P<namespace>[a-z0-9_]+)\.(?P<name>[a-z0-9_]+)$')

LOGGER = logging.getLogger(__name__)


def docsite_uri(target, local_collections):
    """The docs.ansible.com URL of a label, or None when it is not one this extension resolves."""
    if target in LABELS:
        return ANSIBLE_DOCSITE + LABELS[target]
    match = PLUGIN_LABEL.match(target)
    if match:
        collection = '%s.%s' % (match.group('namespace'), match.group('name'))
        if collection in local_collections:
            return None
        uri = '%scollections/%s/%s/%s_%s.html' % (ANSIBLE_DOCSITE, match.group('namespace'), match.group('name'),
                                                  match.group('plugin'), match.group('type'))
        if match.group('anchor'):
            uri += '#' + match.group('anchor')
        return uri
    match = COLLECTION_LABEL.match(target)
    if match and '%s.%s' % (match.group('namespace'), match.group('name')) not in local_collections:
        return '%scollections/%s/%s/index.html' % (ANSIBLE_DOCSITE, match.group('namespace'), match.group('name'))
    return None


def resolve_missing_reference(app, env, node, contnode):  # pylint: disable=unused-argument
    """Sphinx `missing-reference` handler: a std:ref to the Ansible docsite becomes an external link."""
    if node.get('refdomain') != 'std' or node.get('reftype') != 'ref':
        return None
    uri = docsite_uri(node.get('reftarget', ''), app.config.offline_references_local_collections)
    if uri is None:
        return None
    reference = nodes.reference('', '', internal=False, refuri=uri, reftitle=uri)
    reference.append(contnode)
    return reference


def disable_intersphinx_downloads(app, config):
    """Empty intersphinx's inventory list, so that nothing is downloaded."""
    if getattr(config, 'intersphinx_mapping', None):
        LOGGER.info('offline_references: not loading intersphinx inventories (%s)', ', '.join(sorted(config.intersphinx_mapping)))
        config.intersphinx_mapping = {}


def setup(app):
    """Register the extension."""
    app.add_config_value('offline_references_local_collections', [], 'env')
    # Before sphinx.ext.intersphinx reads the mapping (its own config-inited handler has priority 800).
    app.connect('config-inited', disable_intersphinx_downloads, priority=100)
    app.connect('missing-reference', resolve_missing_reference)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}
