/*
 * asset.c — static files.
 *
 * Files are opened relative to a descriptor of the static folder taken at
 * start-up, never through a path built from the request: the segments were
 * already refused if they held "..", "/" or NUL, and names starting with a
 * dot are refused here, so nothing outside the folder (nor .git-like files
 * inside it) can be named. Symbolic links are not followed for the last
 * component. Bodies are sent from the descriptor (sendfile).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asset.h"
#include "conf.h"
#include "http.h"

static int	static_fd = -1;

static const struct {
	const char	*ext;
	const char	*mime;
} mimes[] = {
	{ "html",	 "text/html; charset=utf-8" },
	{ "css",	 "text/css; charset=utf-8" },
	{ "js",		 "text/javascript; charset=utf-8" },
	{ "mjs",	 "text/javascript; charset=utf-8" },
	{ "json",	 "application/json" },
	{ "geojson",	 "application/geo+json" },
	{ "map",	 "application/json" },
	{ "svg",	 "image/svg+xml" },
	{ "png",	 "image/png" },
	{ "jpg",	 "image/jpeg" },
	{ "jpeg",	 "image/jpeg" },
	{ "gif",	 "image/gif" },
	{ "webp",	 "image/webp" },
	{ "ico",	 "image/x-icon" },
	{ "woff2",	 "font/woff2" },
	{ "woff",	 "font/woff" },
	{ "txt",	 "text/plain; charset=utf-8" },
	{ "webmanifest", "application/manifest+json" },
	{ "wasm",	 "application/wasm" },
	{ "pdf",	 "application/pdf" },
};

const char *
asset_mime(const char *name)
{
	const char	*dot = strrchr(name, '.');
	size_t		 i;

	if (dot != NULL && strchr(dot, '/') == NULL)
		for (i = 0; i < sizeof(mimes) / sizeof(mimes[0]); i++)
			if (strcasecmp(dot + 1, mimes[i].ext) == 0)
				return mimes[i].mime;
	return "application/octet-stream";
}

void
asset_init(void)
{
	if (static_fd >= 0)
		return;
	static_fd = open(conf.static_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (static_fd < 0)
		fatal("static_dir \"%s\": %s", conf.static_dir, strerror(errno));
}

void
asset_close(void)
{
	if (static_fd >= 0)
		close(static_fd);
	static_fd = -1;
}

/*
 * Builds the relative path of segs ("css/guichet.css"); "/" is index.html.
 * Returns -1 for names that are never served.
 */
static int
rel_path(char *out, size_t outlen, char *const *segs, size_t nsegs)
{
	size_t	i, n = 0;
	int	w;

	if (nsegs == 0)
		return snprintf(out, outlen, "index.html") < (int)outlen ? 0 : -1;
	for (i = 0; i < nsegs; i++) {
		if (segs[i][0] == '\0' || segs[i][0] == '.')
			return -1;
		w = snprintf(out + n, outlen - n, "%s%s", i ? "/" : "", segs[i]);
		if (w < 0 || (size_t)w >= outlen - n)
			return -1;
		n += w;
	}
	return 0;
}

static int
open_file(char *const *segs, size_t nsegs, struct stat *st, char *path,
    size_t pathlen)
{
	int	fd;

	if (static_fd < 0 || rel_path(path, pathlen, segs, nsegs))
		return -1;
	fd = openat(static_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

int
asset_exists(char *const *segs, size_t nsegs)
{
	struct stat	st;
	char		path[1024];
	int		fd;

	if ((fd = open_file(segs, nsegs, &st, path, sizeof(path))) < 0)
		return 0;
	close(fd);
	return 1;
}

/* Answers with the file segs name; embeddable: may be framed elsewhere. */
static void
serve(struct req *r, char *const *segs, size_t nsegs, int embeddable)
{
	struct MHD_Response	*resp;
	struct stat		 st;
	const char		*inm;
	char			 path[1024], etag[64];
	int			 fd;

	fd = open_file(segs, nsegs, &st, path, sizeof(path));
	if (fd < 0) {
		http_reply_error(r, 404, "not_found",
		    "La ressource demandée n'existe pas.", NULL);
		return;
	}
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"",
	    (unsigned long long)st.st_size,
	    (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
	    (unsigned long long)st.st_mtim.tv_nsec);
	inm = req_header(r, "If-None-Match");
	if (http_etag_matches(inm, etag)) {
		close(fd);
		resp = MHD_create_response_from_buffer(0, "",
		    MHD_RESPMEM_PERSISTENT);
		r->bytes = 0;
		r->status = 304;
	} else {
		resp = MHD_create_response_from_fd64((uint64_t)st.st_size, fd);
		if (resp == NULL) {
			close(fd);
			http_reply_error(r, 500, "internal_error",
			    "Erreur interne du serveur.", NULL);
			return;
		}
		MHD_add_response_header(resp, "Content-Type", asset_mime(path));
		r->bytes = (size_t)st.st_size;
		r->status = 200;
	}
	MHD_add_response_header(resp, "ETag", etag);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	if (embeddable)
		http_embeddable_headers(resp);
	else
		http_common_headers(resp, 0);
	http_reply(r, r->status, resp);
}

void
asset_serve(struct req *r)
{
	serve(r, r->url.segs, r->url.nsegs, 0);
}

void
asset_serve_embeddable(struct req *r, const char *name)
{
	char	*segs[1] = { (char *)name };

	serve(r, segs, 1, 1);
}
