/*
 * upload.h — request bodies that go to disk instead of memory: the files
 * of bulk imports, which may be hundreds of megabytes. A route flagged
 * R_UPLOAD gets its body written, as it arrives, into a temporary file of
 * conf.import_dir, hashed on the way (SHA-256); the handler keeps the file
 * (upload_keep) or it is removed when the request ends.
 */
#ifndef GUICHET_UPLOAD_H
#define GUICHET_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

struct upload;

/* A new temporary file; NULL (logged) when it cannot be created. */
struct upload	*upload_begin(void);
/* Appends n bytes; -1 (logged) on a write error, after which it stays failed. */
int		 upload_write(struct upload *, const void *p, size_t n);
/* Flushes and syncs the file and computes its hash; -1 on failure. */
int		 upload_finish(struct upload *);
uint64_t	 upload_bytes(const struct upload *);
/* The hex SHA-256 of what was written (after upload_finish). */
const char	*upload_sha256(const struct upload *);
/* The temporary file's path, for reading it before keeping it. */
const char	*upload_path(const struct upload *);
/* Moves the file to path (same file system); -1 on failure. */
int		 upload_keep(struct upload *, const char *path);
/* Removes the file unless kept, and frees. NULL is fine. */
void		 upload_free(struct upload *);

#endif
