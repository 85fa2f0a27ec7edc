#!/usr/bin/env python3
"""Turns a text file into a C++ source defining `const char NAME[]`."""
import sys

src, out, ns, name = sys.argv[1:5]
data = open(src, 'rb').read()
body = ','.join(str(b) for b in data)
with open(out, 'w') as f:
    f.write(f'// Generated from {src} by embed_file.py. Do not edit.\n')
    f.write(f'namespace {ns} {{\nextern const char {name}[];\n')
    f.write(f'const char {name}[] = {{{body},0}};\n}}\n')
