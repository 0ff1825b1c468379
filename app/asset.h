/*
 * asset.h — the web UI's static files, served from conf.static_dir with their
 * MIME type, an ETag and 304 answers. Paths arrive as validated segments
 * (url.h), so "..", encoded slashes and NUL never reach the file system.
 */
#ifndef GUICHET_ASSET_H
#define GUICHET_ASSET_H

#include <stddef.h>

struct req;

/* Opens the static folder; fatal() when it is missing. */
void	 asset_init(void);
void	 asset_close(void);
/* 1 when segs name a regular file that would be served. */
int	 asset_exists(char *const *segs, size_t nsegs);
/* Answers a GET or HEAD for the request's path. */
void	 asset_serve(struct req *);
/*
 * Answers with the top-level file name, with the headers of a page that
 * other sites may frame (http_embeddable_headers).
 */
void	 asset_serve_embeddable(struct req *, const char *name);
/* The MIME type for a file name (by extension). */
const char *asset_mime(const char *name);

#endif
