/*
 * html.h — the one HTML text writer: every byte of text that goes into HTML
 * passes through html_escape.
 */
#ifndef GUICHET_HTML_H
#define GUICHET_HTML_H

#include "util.h"

/* Appends s to b with & < > " ' turned into entities. */
void	 html_escape(struct buf *b, const char *s);

#endif
