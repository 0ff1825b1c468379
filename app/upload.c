/*
 * upload.c — request bodies written to disk as they arrive (upload.h).
 *
 * Writes go through a FILE buffer; the file is fsync'ed before a handler
 * sees it, so that an import acknowledged as received survives a crash.
 * The temporary name comes from mkstemp in conf.import_dir/tmp, created at
 * first use; a kept file is renamed, never copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "conf.h"
#include "upload.h"
#include "util.h"

struct upload {
	FILE				*f;
	char				*path;
	uint64_t			 bytes;
	int				 failed;
	int				 kept;
	crypto_hash_sha256_state	 h;
	char				 hex[65];
};

struct upload *
upload_begin(void)
{
	struct upload	*u;
	char		*dir;
	int		 fd;

	dir = xasprintf("%s/tmp", conf.import_dir);
	if (mkdirs(dir) != 0) {
		log_error("upload: cannot create %s: %s", dir, strerror(errno));
		free(dir);
		return NULL;
	}
	u = xcalloc(1, sizeof(*u));
	u->path = xasprintf("%s/upload-XXXXXX", dir);
	free(dir);
	if ((fd = mkstemp(u->path)) < 0 || (u->f = fdopen(fd, "wb")) == NULL) {
		log_error("upload: cannot create a file in %s/tmp: %s",
		    conf.import_dir, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(u->path);
		}
		free(u->path);
		free(u);
		return NULL;
	}
	crypto_hash_sha256_init(&u->h);
	return u;
}

int
upload_write(struct upload *u, const void *p, size_t n)
{
	if (u->failed)
		return -1;
	if (fwrite(p, 1, n, u->f) != n) {
		log_error("upload: writing %s: %s", u->path, strerror(errno));
		u->failed = 1;
		return -1;
	}
	crypto_hash_sha256_update(&u->h, p, n);
	u->bytes += n;
	return 0;
}

int
upload_finish(struct upload *u)
{
	unsigned char	md[crypto_hash_sha256_BYTES];

	if (u->failed || fflush(u->f) != 0 || fsync(fileno(u->f)) != 0) {
		if (!u->failed)
			log_error("upload: syncing %s: %s", u->path,
			    strerror(errno));
		u->failed = 1;
		return -1;
	}
	crypto_hash_sha256_final(&u->h, md);
	hex_encode(u->hex, md, sizeof(md));
	return 0;
}

uint64_t	 upload_bytes(const struct upload *u) { return u->bytes; }
const char	*upload_sha256(const struct upload *u) { return u->hex; }
const char	*upload_path(const struct upload *u) { return u->path; }

int
upload_keep(struct upload *u, const char *path)
{
	if (rename(u->path, path) != 0) {
		log_error("upload: moving %s to %s: %s", u->path, path,
		    strerror(errno));
		return -1;
	}
	u->kept = 1;
	return 0;
}

void
upload_free(struct upload *u)
{
	if (u == NULL)
		return;
	if (u->f != NULL)
		fclose(u->f);
	if (!u->kept)
		unlink(u->path);
	free(u->path);
	free(u);
}
