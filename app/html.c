/*
 * html.c — HTML escaping.
 */
#include <string.h>

#include "html.h"

void
html_escape(struct buf *b, const char *s)
{
	const char	*p, *rep;

	for (p = s; *p != '\0'; p++) {
		switch (*p) {
		case '&':  rep = "&amp;"; break;
		case '<':  rep = "&lt;"; break;
		case '>':  rep = "&gt;"; break;
		case '"':  rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			buf_append(b, p, 1);
			continue;
		}
		buf_append(b, rep, strlen(rep));
	}
}
