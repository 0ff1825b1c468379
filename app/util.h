/*
 * util.h — process-wide helpers: logging, fatal exits, allocation wrappers
 * that never return NULL, a growable byte buffer, a monotonic clock, and
 * background threads.
 */
#ifndef GUICHET_UTIL_H
#define GUICHET_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void	 log_set_level(enum log_level);
void	 log_msg(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)

/* One line on stderr, "guichet: ...", then exit(1). For start-up only. */
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated after its len bytes. */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

void	 buf_append(struct buf *, const void *, size_t);
void	 buf_puts(struct buf *, const char *);
void	 buf_appendf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_free(struct buf *);

/* A whole file, NUL-terminated (len bytes before the NUL); NULL and errno. */
char	*file_read(const char *path, size_t *len);

/* Monotonic time in microseconds. */
int64_t	 now_us(void);

/*
 * Background threads (mail, digests): started with every signal blocked,
 * so that SIGINT and SIGTERM always reach the main thread's sigwait();
 * they poll *running and nap in steps short enough to stop promptly.
 */
#include <pthread.h>
#include <stdatomic.h>
void	 bg_start(pthread_t *, void *(*fn)(void *), void *arg,
	    const char *what);
/* Sleeps up to ms while *running; returns *running. */
int	 bg_nap(atomic_int *running, int ms);

/* Hex encoding of n bytes into out (2n + 1 bytes). */
void	 hex_encode(char *out, const unsigned char *in, size_t n);



/*
 * Parses a PostgreSQL one-dimensional text array literal of plain words
 * ("{}", "{31,34}", "{read,submit}") into a new vector; NULL or "" give an
 * empty one. Quoted elements are refused (-1): callers only store words.
 */
int	 pgarray_parse(const char *lit, char ***out, size_t *n);
void	 pgarray_free(char **v, size_t n);

/* mkdir -p (mode 0750); 0, or -1 with errno. */
int	 mkdirs(const char *path);
/* Removes the blanks (spaces, tabs) around s, in place. */
void	 str_strip(char *s);
/* Cuts an incomplete UTF-8 sequence off the end of s (after a truncation). */
void	 utf8_trim(char *s);

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
int	 utf8_valid(const char *s, size_t n);
#endif
