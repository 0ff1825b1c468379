#!/usr/bin/python3
"""Runs Debian 12's wapiti (3.0.4) with its URL exclusion (-x) mended.

wapiti 3.0.4 compiles each -x pattern as `pattern + r'\\Z(?ms)'`, which the
Python 3.11 of Debian 12 refuses ("global flags not at the start of the
expression"): any -x stops the scan before it starts. This launcher puts the
same translation (`*` any text, the rest literal) with its flags first, then
hands over to wapiti's own entry point, arguments unchanged.
"""
import re
import sys

import wapitiCore.net.crawler as crawler
from wapitiCore.main.wapiti import wapiti_main


def wildcard_translate(pattern):
    """The regular expression of a wildcard pattern, as wapiti means it."""
    body = "".join(".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile(r"(?ms)" + body + r"\Z")


crawler.wildcard_translate = wildcard_translate
sys.argv[0] = "wapiti"
sys.exit(wapiti_main())
