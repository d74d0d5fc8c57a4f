# Sphinx configuration for the mlos documentation (docs/meson.build builds
# it: HTML for reading, the man builder for mlos(1) and friends).
import os
import re

project = 'mlos'
author = 'the mlos authors'
copyright = 'the mlos authors; MIT licence'

# The version is the one meson declares, so the two never disagree.
_top = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'meson.build')
with open(_top, encoding='utf-8') as f:
    _m = re.search(r"version\s*:\s*'([^']+)'", f.read())
release = version = _m.group(1) if _m else 'unknown'

extensions = []
primary_domain = 'c'
highlight_language = 'none'  # shell examples; C blocks say so
exclude_patterns = ['_build']
html_theme = 'alabaster'
html_static_path = []

# Types from libc, libuv and protobuf-c appear in signatures; their own
# documentation is elsewhere (nitpicky mode would call them broken links).
nitpick_ignore = [('c:identifier', t) for t in (
    'size_t', 'ssize_t', 'uint8_t', 'uint16_t', 'uint32_t', 'uint64_t', 'int64_t', 'uintptr_t', 'va_list',
    'uv_loop_t', 'uv_stream_t', 'uv_handle_t', 'uv_timer_t', 'uv_buf_t',
    'ProtobufCMessage',
)]

# One man page per command and tool, from docs/man/*.rst.
man_pages = [
    ('man/mlos', 'mlos', 'run and use mlos shards from the shell', [author], 1),
    ('man/mlos-spawn', 'mlos-spawn', 'start a shard under a detached master', [author], 1),
    ('man/mlos-ps', 'mlos-ps', 'list the shards on this host', [author], 1),
    ('man/mlos-stop', 'mlos-stop', 'stop shards started by mlos spawn', [author], 1),
    ('man/mlos-call', 'mlos-call', 'run a task on a shard', [author], 1),
    ('man/mlos-put', 'mlos-put', 'copy a file into a shard\'s bulk window', [author], 1),
    ('man/mlos-get', 'mlos-get', 'copy bytes out of a shard\'s bulk window', [author], 1),
    ('man/mlos-console', 'mlos-console', 'show a shard\'s console output', [author], 1),
    ('man/mlos-build', 'mlos-build', 'build a slave image with your own tasks', [author], 1),
    ('man/mlos-image', 'mlos-image', 'say what a slave image is without booting it', [author], 1),
    ('man/mlos-compose', 'mlos-compose', 'resolve an application manifest into an image\'s sources', [author], 1),
    ('man/mlos-noise', 'mlos-noise', 'measure OS noise on the host and on shards', [author], 1),
    ('man/mlos-shard-process', 'mlos-shard-process', 'a slave shard that is a Linux process', [author], 1),
    ('man/mlos-remote-shard', 'mlos-remote-shard', 'a process shard on another host', [author], 1),
    ('man/mlos-node', 'mlos-node', 'the agent of one node of an mlos cluster', [author], 1),
    ('man/mlos-launch', 'mlos-launch', 'start a shard process that dies with its master', [author], 1),
    ('guide/environment', 'mlos-environment', 'environment variables read by mlos', [author], 7),
]
man_show_urls = False
man_make_section_directory = False  # man1/, man7/ are meson's install_dir
